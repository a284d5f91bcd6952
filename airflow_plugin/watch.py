"""What a running member does about its peers (pure: DESIGN section 3 over Airflow TI states).

Every member main task polls the states of the task instances it depends on for its fate (the
lead's main task; with ``ignore_nonlead_status=False`` every peer's) through the Task SDK, and
asks :meth:`MemberWatch.decide` what to do. Why polling from inside the member: it is the one
mechanism that works the same on Local, Celery and Kubernetes executors. A task can always end
itself with the right state and reason and kill its own process group; nothing else can (the
REST API's PATCH needs credentials and kills the worker process without a reason; the
scheduler's ``DownstreamTasksSkipped`` only skips tasks that have not started).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FINAL = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})


@dataclass(frozen=True)
class Decision:
    """``stop``: end with ``state`` and ``reason``; ``restart``: re-run the main work now."""

    action: str  # "stop" | "restart"
    state: str = ""  # "succeeded" | "failed" for stop
    reason: str = ""
    cause: str = ""  # the member whose failure started a chain of strict-mode stops


@dataclass
class MemberWatch:
    """The watching rules of one member. ``peers`` maps member name to its main task id.

    A peer's *epoch* is its Airflow try number, which each main task publishes when it starts
    (XCom). A watched peer's epoch rising means it retried: this member restarts (DESIGN
    section 3), and counts the group's epoch in its attempts even if it started late.
    """

    name: str
    lead: str
    peers: Mapping[str, str]
    ignore_nonlead_status: bool = True
    epochs: dict[str, int] = field(default_factory=dict)

    @property
    def watched(self) -> list[str]:
        """Task ids whose state this member needs."""
        names = [self.lead] if self.ignore_nonlead_status else list(self.peers)
        return [self.peers[n] for n in names if n != self.name and n in self.peers]

    @property
    def epoch(self) -> int:
        """The highest epoch seen among watched peers (1 before any retry)."""
        return max(self.epochs.values(), default=1)

    def decide(
        self, states: Mapping[str, str | None], tries: Mapping[str, int | None],
        cause_of: Callable[[str], str | None],
    ) -> Decision | None:
        """The decision given peer states and tries; ``cause_of(task_id)``: a failure's cause."""
        by_id = {tid: n for n, tid in self.peers.items()}
        lead_id = self.peers.get(self.lead)
        if self.name != self.lead and lead_id is not None:
            lead_state = states.get(lead_id)
            if lead_state in FINAL:
                if lead_state == "success":
                    return Decision("stop", "succeeded", "lead finished")
                cause = cause_of(lead_id) or self.lead
                if not self.ignore_nonlead_status and cause not in (self.lead, self.name):
                    return Decision("stop", "failed", f"task {cause} failed", cause)
                return Decision("stop", "failed", "lead finished", cause)
        restart: Decision | None = None
        for tid in self.watched:
            state, seen = states.get(tid), tries.get(tid)
            if state == "failed" and not self.ignore_nonlead_status:
                cause = cause_of(tid) or by_id[tid]
                return Decision("stop", "failed", f"task {cause} failed", cause)
            if seen is None:
                continue
            known = self.epochs.get(tid)
            self.epochs[tid] = max(seen, known or 0)
            if known is not None and seen > known or known is None and seen > 1:
                who = by_id[tid]
                why = "lead" if who == self.lead else f"task {who}"
                restart = Decision("restart", reason=f"{why} retried (try {seen}); restarting")
        return restart
