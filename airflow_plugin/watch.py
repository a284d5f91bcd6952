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
NOT_RUNNING_AGAIN = frozenset({"up_for_retry", "restarting", "scheduled", "queued", "none", None})


@dataclass(frozen=True)
class Decision:
    """``stop``: end with ``state`` and ``reason``; ``restart``: re-run once ``wait_for`` runs."""

    action: str  # "stop" | "restart"
    state: str = ""  # "succeeded" | "failed" for stop
    reason: str = ""
    cause: str = ""  # the member whose failure started a chain of strict-mode stops
    wait_for: str = ""  # task id to see running again before a restart


@dataclass
class MemberWatch:
    """The watching rules of one member. ``peers`` maps member name to its main task id."""

    name: str
    lead: str
    peers: Mapping[str, str]
    ignore_nonlead_status: bool = True
    _seen_running: set[str] = field(default_factory=set)

    @property
    def watched(self) -> list[str]:
        """Task ids whose state this member needs."""
        names = [self.lead] if self.ignore_nonlead_status else list(self.peers)
        return [self.peers[n] for n in names if n != self.name and n in self.peers]

    def decide(
        self, states: Mapping[str, str | None], cause_of: Callable[[str], str | None]
    ) -> Decision | None:
        """The decision given peer states; ``cause_of(task_id)`` reads a failed peer's cause."""
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
        for tid in self.watched:
            state = states.get(tid)
            if state == "running":
                self._seen_running.add(tid)
            elif state == "failed" and not self.ignore_nonlead_status:
                cause = cause_of(tid) or by_id[tid]
                return Decision("stop", "failed", f"task {cause} failed", cause)
            elif state in NOT_RUNNING_AGAIN and tid in self._seen_running:
                self._seen_running.discard(tid)
                who = by_id[tid]
                why = "lead" if who == self.lead else f"task {who}"
                return Decision("restart", reason=f"{why} retries; restarting", wait_for=tid)
        return None
