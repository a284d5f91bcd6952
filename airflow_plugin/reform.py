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


def reform_barrier(run: MemberRun, poll_interval: float) -> Verdict | None:
    """Arrive at the current epoch's barrier and wait for the others; None once released.

    A ``stop`` verdict (the group ended while waiting) is returned for the caller to end in;
    a barrier that times out returns a ``stop`` verdict in state failed.
    """
    info, watch = run.info, run.reader.watch
    if not info.barrier_on:
        return None
    epoch = watch.epoch()
    if epoch < 1:
        return None  # the first epoch's barrier is the __barrier__ task, already passed
    arrived_at = _arrive(run, epoch)
    seen: dict[str, tuple[int, float]] = {}
    all_ids = list(info.mains.values())
    while True:
        # The group first: a lead that ended while the others waited ends them, never
        # releases them into work the group no longer runs.
        verdict = run.reader.poll_quietly()
        if verdict is not None and verdict.kind == "stop":
            return verdict
        if verdict is not None and verdict.kind == "restart" and watch.epoch() > epoch:
            log.warning("groupplug: %s restarts again while waiting: %s", run.key,
                        verdict.reason)
            epoch = watch.epoch()
            arrived_at = _arrive(run, epoch)
        try:
            states = run.reader.states(all_ids)
            for key in _others(run, states):
                if seen.get(key, (-1, 0.0))[0] < epoch and (found := arrival_of(run, key)):
                    seen[key] = found
        except Exception:  # noqa: BLE001 - one failed read must not end the wait
            log.warning("groupplug: %s: reading group %s's arrivals failed; retrying", run.key,
                        info.group, exc_info=True)
            time.sleep(poll_interval)
            continue
        others = _others(run, states)
        missing = [k for k in others if seen.get(k, (-1, 0.0))[0] < epoch]
        if not missing:
            log.warning("groupplug: %s: the barrier of group %s re-formed (epoch %d); "
                        "starting again with %s", run.key, info.group, epoch,
                        ", ".join(others) or "no one else")
            return None
        first = min([arrived_at, *(at for e, at in seen.values() if e == epoch)])
        if info.barrier_timeout is not None and time.time() - first >= info.barrier_timeout:
            reason = str(BarrierTimeout(info.group, info.barrier_timeout, missing))
            log.error("groupplug: %s: %s (epoch %d)", run.key, reason, epoch)
            return Verdict("stop", MemberState.FAILED, reason)
        time.sleep(poll_interval)


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

