"""The barrier re-formed after a restart, on Airflow (DESIGN sections 3 and 4).

A group's first barrier is a task (``__barrier__``) between the members' setups and their main
tasks. A restart does not pass that task again: a restarted member begins again inside its own
task, and the member whose retry caused it begins a new Airflow try of its task. So every later
*epoch* keeps its arrivals in XCom: a member about to begin its main work in epoch ``E >= 1``
pushes ``groupplug_arrived = {"epoch": E, "at": <unix time>}`` and waits until every other member
whose main task has not finished has arrived at ``E`` or later. Then all of them begin together,
as on the local engine and on Prefect, and a restarted member no longer runs ahead of the retry
it restarted for.

The epoch is counted by each member's :class:`~groupplug.airflow.watch.GroupWatch` from the try
numbers it has seen (:meth:`GroupWatch.epoch`), so the members agree on it without a coordinator.
A member that saw a retry late arrives at a lower epoch, starts, sees the retry, restarts and
arrives again; an arrival of an earlier epoch never counts. ``barrier_timeout`` holds for every
epoch, counted from the epoch's first arrival: the waiting member fails with the same
``BarrierTimeout`` reason as the first barrier. The group ending meanwhile (the lead finished)
ends the wait with the engine's verdict.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from groupplug.exceptions import BarrierTimeout
from groupplug.states import MemberState

from . import naming
from .watch import FINAL_TI, Verdict, base_name, main_state, member_keys

if TYPE_CHECKING:
    from .member_run import MemberRun

log = logging.getLogger(__name__)


def arrival_of(run: MemberRun, key: str) -> tuple[int, float] | None:
    """``key``'s latest arrival ``(epoch, at)`` from XCom, or None before its first."""
    name = base_name(key)
    index = int(key[len(name) + 1:-1]) if key != name else -1
    value = run.ti.xcom_pull(task_ids=run.info.mains[name], key=naming.XCOM_ARRIVED,
                             map_indexes=index)
    if isinstance(value, list):  # an older Task SDK answers a list for one map index
        value = value[0] if value else None
    if not isinstance(value, dict):
        return None
    return int(value["epoch"]), float(value["at"])


def reform_barrier(run: MemberRun, poll_interval: float, *,
                   fresh: bool = False) -> Verdict | None:
    """Arrive at the current epoch's barrier and wait for the others; None once released.

    A ``stop`` verdict (the group ended while waiting) is returned for the caller to end in;
    a barrier that times out returns a ``stop`` verdict in state failed. ``fresh``: the
    member's watch has not read the group yet (a task resumed from its trigger), so it reads
    once to know the epoch.
    """
    if not run.info.barrier_on:
        return None
    if fresh:
        verdict = run.reader.poll_quietly()
        if verdict is not None and verdict.kind == "stop":
            return verdict
    if run.reader.watch.epoch() < 1:
        return None  # the first epoch's barrier is the __barrier__ task, already passed
    return _Wait(run).until_released(poll_interval)


class _Wait:
    """One member's wait at the re-formed barrier: its arrival and the others' seen so far."""

    def __init__(self, run: MemberRun):
        self.run, self.info, self.watch = run, run.info, run.reader.watch
        self.epoch = self.watch.epoch()
        self.arrived_at = _arrive(run, self.epoch)
        self.seen: dict[str, tuple[int, float]] = {}

    def until_released(self, poll_interval: float) -> Verdict | None:
        while True:
            verdict = self._group_verdict()
            if verdict is not None:
                return verdict
            try:
                others = self._read_arrivals()
            except Exception:  # noqa: BLE001 - one failed read must not end the wait
                log.warning("groupplug: %s: reading group %s's arrivals failed; retrying",
                            self.run.key, self.info.group, exc_info=True)
                time.sleep(poll_interval)
                continue
            missing = [k for k in others if self.seen.get(k, (-1, 0.0))[0] < self.epoch]
            if not missing:
                log.warning("groupplug: %s: the barrier of group %s re-formed (epoch %d); "
                            "starting again with %s", self.run.key, self.info.group,
                            self.epoch, ", ".join(others) or "no one else")
                return None
            timed_out = self._timed_out(missing)
            if timed_out is not None:
                return timed_out
            time.sleep(poll_interval)

    def _group_verdict(self) -> Verdict | None:
        """The group first: a lead that ended while the others waited ends them, never
        releases them into work the group no longer runs; a further retry moves the epoch."""
        verdict = self.run.reader.poll_quietly()
        if verdict is not None and verdict.kind == "stop":
            return verdict
        if verdict is not None and verdict.kind == "restart" and self.watch.epoch() > self.epoch:
            log.warning("groupplug: %s restarts again while waiting: %s", self.run.key,
                        verdict.reason)
            self.epoch = self.watch.epoch()
            self.arrived_at = _arrive(self.run, self.epoch)
        return None

    def _read_arrivals(self) -> list[str]:
        """The unfinished others, with their arrivals of this epoch read into ``seen``."""
        others = _others(self.run, self.run.reader.states(list(self.info.mains.values())))
        for key in others:
            if self.seen.get(key, (-1, 0.0))[0] < self.epoch:
                found = arrival_of(self.run, key)
                if found is not None:
                    self.seen[key] = found
        return others

    def _timed_out(self, missing: list[str]) -> Verdict | None:
        """``barrier_timeout`` counted from this epoch's first arrival, as on every engine."""
        limit = self.info.barrier_timeout
        arrivals = [at for epoch, at in self.seen.values() if epoch == self.epoch]
        if limit is None or time.time() - min([self.arrived_at, *arrivals]) < limit:
            return None
        reason = str(BarrierTimeout(self.info.group, limit, missing))
        log.error("groupplug: %s: %s (epoch %d)", self.run.key, reason, self.epoch)
        return Verdict("stop", MemberState.FAILED, reason)


def _others(run: MemberRun, states: dict[str, Any]) -> list[str]:
    """The members other than this one whose main task has not finished."""
    return [k for k in member_keys(run.info, states)
            if k != run.key and main_state(run.info, states, k) not in FINAL_TI]


def _arrive(run: MemberRun, epoch: int) -> float:
    at = time.time()
    run.ti.xcom_push(key=naming.XCOM_ARRIVED, value={"epoch": epoch, "at": at})
    log.warning("groupplug: %s arrived at the re-formed barrier of group %s (epoch %d); "
                "waiting for the others", run.key, run.info.group, epoch)
    return at

