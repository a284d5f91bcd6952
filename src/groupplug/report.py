"""The outcome of a run, in the one shape every engine reports (``groupplug run --json``).

Every engine builds a :class:`RunReport`, so the conformance suite and users compare engines
field for field::

    {"workflow": "train-job", "engine": "local", "state": "succeeded",
     "groups": {"train": {"state": "succeeded", "lead": "master",
                          "counts": {"succeeded": 3},
                          "members": {"master": {"state": "succeeded", "reason": "",
                                                 "attempts": 1, "setup_finished_at": 1.7e9,
                                                 "started_at": 1.7e9, "finished_at": 1.7e9}}}}}

Group keys are dotted paths (``pipeline.training``); times are Unix seconds or null.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .states import GroupState, MemberState


@dataclass
class MemberReport:
    state: MemberState = MemberState.PENDING
    reason: str = ""
    attempts: int = 0
    setup_finished_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: A Python member's return value (JSON-safe: ``repr`` of what JSON cannot hold); None for
    #: shell members and members that did not return.
    result: Any = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "state": self.state.value,
            "reason": self.reason,
            "attempts": self.attempts,
            "setup_finished_at": self.setup_finished_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
        if self.result is not None:
            data["result"] = self.result
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemberReport:
        return cls(
            state=MemberState(data["state"]),
            reason=data.get("reason", ""),
            attempts=data.get("attempts", 0),
            setup_finished_at=data.get("setup_finished_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            result=data.get("result"),
        )


@dataclass
class GroupReport:
    state: GroupState = GroupState.PENDING
    lead: str | None = None
    members: dict[str, MemberReport] = field(default_factory=dict)


@dataclass
class RunReport:
    workflow: str
    engine: str
    groups: dict[str, GroupReport] = field(default_factory=dict)
    run_id: str = ""
    #: Why the run was cut short (``interrupted (SIGINT)``); the run's state is then
    #: ``interrupted`` whatever its groups say.
    interrupted: str = ""

    @property
    def state(self) -> str:
        """``succeeded`` when every top-level group succeeded or was skipped, else ``failed``
        (``running`` while any group is unfinished; ``interrupted`` when cut short)."""
        if self.interrupted:
            return "interrupted"
        states = [g.state for path, g in self.groups.items() if "." not in path]
        if any(not s.finished for s in states):
            return "running"
        ok = all(s in (GroupState.SUCCEEDED, GroupState.SKIPPED) for s in states)
        return "succeeded" if ok else "failed"

    def counts(self, path: str) -> dict[str, int]:
        """State counts of a group's direct members plus, for a parent, every descendant's."""
        counter: Counter[str] = Counter()
        prefix = path + "."
        for other, group in self.groups.items():
            if other == path or other.startswith(prefix):
                counter.update(m.state.value for m in group.members.values())
        return dict(sorted(counter.items()))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "workflow": self.workflow,
            "run_id": self.run_id,
            "engine": self.engine,
            "state": self.state,
        }
        if self.interrupted:
            data["reason"] = self.interrupted
        data["groups"] = {
            path: {
                "state": g.state.value,
                "lead": g.lead,
                "counts": self.counts(path),
                "members": {n: m.to_json() for n, m in g.members.items()},
            }
            for path, g in self.groups.items()
        }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunReport:
        report = cls(workflow=data["workflow"], engine=data["engine"],
                     run_id=data.get("run_id", ""),
                     interrupted=data.get("reason", "") if data.get("state") == "interrupted"
                     else "")
        for path, g in data["groups"].items():
            report.groups[path] = GroupReport(
                state=GroupState(g["state"]),
                lead=g.get("lead"),
                members={n: MemberReport.from_json(m) for n, m in g["members"].items()},
            )
        return report

    def outcome(self) -> dict[str, Any]:
        """Engine-neutral final states only: what two engines must agree on."""
        return {
            "state": self.state,
            "groups": {
                path: {
                    "state": g.state.value,
                    "members": {n: m.state.value for n, m in g.members.items()},
                }
                for path, g in self.groups.items()
            },
        }


def roll_up_parents(report: RunReport, runnable: set[str]) -> None:
    """Set each parent group's state from its own (if it runs tasks) and its children's states,
    deepest first (Flyte's rule, :func:`groupplug.status.rollup`). Engines call this after
    updating the groups that run tasks."""
    from .status import rollup

    groups = report.groups
    for path in sorted(groups, key=lambda p: -p.count(".")):
        children = [g for p, g in groups.items() if "." in p and p.rsplit(".", 1)[0] == path]
        if children:
            own = [groups[path].state] if path in runnable else []
            groups[path].state = rollup([*own, *(c.state for c in children)])
