"""The run's story (``groupplug run -v``), told the same way on every engine.

Each engine's drivers log their own decisions where they run: in this process on the local
engine and Prefect, inside the Airflow workers on Airflow. A story told from those would differ
by engine (two lines on Airflow, measured). So the story is told here, from the reports every
engine already gives the command line (live updates and the final report): barriers released,
members retrying, failing or stopped and why, groups finished. Each line is told once per run;
a step a live update missed is told from the final report.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Collection, Iterator

from .report import GroupReport, RunReport
from .states import MemberState
from .status import LEAD_FINISHED

log = logging.getLogger("groupplug.story")

#: Reasons the group gives a member it stops (the status engine's and the barrier's words).
_STOPPED_BY_GROUP = re.compile(rf"^({re.escape(LEAD_FINISHED)}|task .+ failed|BarrierTimeout\b.*)$")
_BEFORE_RELEASE = (MemberState.PENDING, MemberState.SETTING_UP, MemberState.WAITING)

#: Every kind of line the story has, in the order a group tells them.
KINDS = ("barrier released", "retrying", "failed", "stopped", "group finished")


def stopped_by_group(reason: str) -> bool:
    """Whether a member's reason is its group stopping it (not its own failure)."""
    return bool(_STOPPED_BY_GROUP.match(reason))


def _released(group: GroupReport, told_barrier: bool) -> list[str] | None:
    """The members a barrier released, once none is left before it; None while it holds."""
    members = group.members
    if len(members) < 2 or any(m.state in _BEFORE_RELEASE for m in members.values()):
        return None
    started = [n for n, m in members.items() if m.state is MemberState.RUNNING
               or (m.state.finished and m.started_at is not None)]
    if not told_barrier:  # a report with no spec: a barrier shows as setups that all finished
        if not all(members[n].setup_finished_at is not None for n in started):
            return None
    return started or None


def story_lines(report: RunReport,
                barriers: Collection[str] | None = None) -> Iterator[tuple[tuple[str, ...], str]]:
    """``(key, line)`` for every step ``report`` shows. ``barriers`` are the paths of the groups
    with a barrier (from the spec); None when only the report is known (a DAG or flow file)."""
    for path, group in list(report.groups.items()):
        if barriers is None or path in barriers:
            released = _released(group, barriers is not None)
            if released:
                yield ("barrier released", path), \
                    f"group {path}: barrier released for {', '.join(released)}"
        members = list(group.members.items())
        for name, m in members:
            if m.attempts > 1 and m.state is not MemberState.SKIPPED:
                yield ("retrying", path, name, str(m.attempts)), \
                    f"{path}.{name}: attempt {m.attempts}"
        for name, m in members:  # who failed first: the stops it caused follow
            if m.state is MemberState.FAILED and m.reason and not stopped_by_group(m.reason):
                yield ("failed", path, name), f"{path}.{name} failed: {m.reason}"
        for name, m in members:
            if m.state.finished and stopped_by_group(m.reason):
                yield ("stopped", path, name), \
                    f"{path}.{name} stopped as {m.state.value}: {m.reason}"
        if group.state.finished:
            yield ("group finished", path), f"group {path} finished: {group.state.value}"


class Storyteller:
    """Feed it every report of a run (:meth:`see`); it logs each new step once, at INFO, to
    the ``groupplug.story`` logger."""

    def __init__(self, barriers: Collection[str] | None = None):
        self.barriers = barriers
        self._told: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()

    def see(self, report: RunReport) -> None:
        with self._lock:
            try:
                lines = list(story_lines(report, self.barriers))
            except RuntimeError:  # the engine changed the report while we read it: next time
                return
            for key, line in lines:
                if key not in self._told:
                    self._told.add(key)
                    log.info("%s", line)
