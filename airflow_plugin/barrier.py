"""The deferrable barrier: a group's members start their main work together (DESIGN section 4).

``GroupBarrierOperator`` starts with the members' setup tasks and defers at once to
``BarrierTrigger``, so waiting holds no worker slot (the triggerer's event loop polls). A member
*arrives* when its setup task succeeded and *leaves* when it failed; the barrier releases when
every member that has not left has arrived. The lead leaving ends the barrier ("lead finished"),
and ``barrier_timeout`` (counted from the first arrival, as on every engine) fails it naming the
members that never arrived. The core ``GroupEngine`` decides all three (:func:`barrier_outcome`).
Members' main tasks are downstream of the barrier, so Airflow's scheduler starts them all in the
same scheduling loop.

The trigger reads states through ``RuntimeTaskInstance.get_task_states`` (the execution API,
wrapped in ``sync_to_async``): Airflow 3 gives triggers no database access.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from groupplug.exceptions import BarrierTimeout
from groupplug.status import ActionKind, Event, EventKind, GroupEngine

from . import naming
from ._compat import AirflowFailException

RELEASED, TIMED_OUT, LEAD_FINISHED = "released", "timed_out", "lead_finished"
#: Retries of groupplug's own helper tasks (barrier, gate) when the infrastructure fails them.
INFRA_RETRIES = 2
#: Seconds Airflow's deferral deadline trails the barrier timeout (see ``_deferral_timeout``).
DEFERRAL_MARGIN = 10.0
LEFT = frozenset({"failed", "upstream_failed", "skipped", "removed"})


def barrier_outcome(
    members: Mapping[str, str], lead: str, states: Mapping[str, str | None],
    first_arrival: float | None, timeout: float | None, now: float,
) -> dict[str, Any] | None:
    """The event payload once the barrier is decided, else None. ``members``: name -> setup id.

    The core ``GroupEngine`` decides: arrivals (setup succeeded) first, then members that left
    (setup failed or never ran), the lead last. ``timeout`` counts from ``first_arrival``, as on
    every engine (DESIGN section 4).
    """
    names = list(members)
    engine = GroupEngine("barrier", names, lead, barrier=True)
    arrived = [m for m in names if states.get(members[m]) == "success"]
    left = [m for m in names if states.get(members[m]) in LEFT]
    base = {"arrived": arrived, "left": left, "at": now, "first_arrival": first_arrival}
    actions = [a for m in arrived for a in engine.apply(Event(EventKind.ARRIVED, m))]
    for m in sorted(left, key=lambda m: m == lead):
        actions += engine.apply(Event(EventKind.FAILED, m, "left before arriving"))
    kinds = {a.kind for a in actions}
    if ActionKind.FINISH_GROUP in kinds:
        return {"outcome": LEAD_FINISHED, **base}
    if ActionKind.RELEASE in kinds:
        return {"outcome": RELEASED, **base}
    if timeout is not None and first_arrival is not None and now - first_arrival >= timeout:
        return {"outcome": TIMED_OUT, "missing": engine.not_arrived(), "waited": timeout, **base}
    return None


class BarrierTrigger(BaseTrigger):
    """Polls the members' setup states in the triggerer until the barrier is decided."""

    def __init__(
        self, *, dag_id: str, run_id: str, members: Mapping[str, str], lead: str,
        started_at: float | None = None, timeout: float | None = None,
        poll_interval: float = 0.25, first_arrival: float | None = None,
    ):
        super().__init__()
        self.dag_id = dag_id
        self.run_id = run_id
        self.members = dict(members)
        self.lead = lead
        self.started_at = started_at  # kept: triggers serialized by older versions pass it
        self.first_arrival = first_arrival
        self.timeout = timeout
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "dag_id": self.dag_id, "run_id": self.run_id, "members": self.members,
            "lead": self.lead, "started_at": self.started_at, "timeout": self.timeout,
            "poll_interval": self.poll_interval, "first_arrival": self.first_arrival,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        get_states = sync_to_async(RuntimeTaskInstance.get_task_states)
        while True:
            answer = await get_states(dag_id=self.dag_id, run_ids=[self.run_id],
                                      task_ids=list(self.members.values()))
            states = answer.get(self.run_id, {})
            now = time.time()
            if self.first_arrival is None and any(states.get(t) == "success"
                                                  for t in self.members.values()):
                self.first_arrival = now
            event = barrier_outcome(self.members, self.lead, states, self.first_arrival,
                                    self.timeout, now)
            if event is not None:
                self.log.info("barrier %s", event)
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poll_interval)


class GroupBarrierOperator(BaseOperator):
    """Defers to :class:`BarrierTrigger`; succeeds when released, else fails with the reason."""

    ui_color = "#ffd8a8"

    def __init__(
        self, *, group: str, members: Mapping[str, str], lead: str,
        barrier_timeout: float | None = None, **kwargs: Any,
    ):
        # Its decisions raise AirflowFailException (never retried); a retry only covers an
        # infrastructure failure, e.g. Airflow 3.3 failing a resumed deferred task under load.
        kwargs.setdefault("retries", INFRA_RETRIES)
        kwargs.setdefault("retry_delay", timedelta(seconds=1))
        super().__init__(**kwargs)
        self.group = group
        self.members = dict(members)
        self.lead = lead
        self.barrier_timeout = barrier_timeout

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        started_at = time.time()
        # Decide at once when every setup is already done: deferring then would make the
        # trigger fire while the executor still reports this process's exit, a race in which
        # Airflow 3.3 marks the resumed task failed ("state attribute is queued").
        answer = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id],
                                    task_ids=list(self.members.values()))
        states = answer.get(ti.run_id, {})
        first_arrival = self._first_arrival(ti, states)
        event = barrier_outcome(self.members, self.lead, states, first_arrival,
                                self.barrier_timeout, started_at)
        if event is not None:
            return self.execute_complete(context, event)
        self.log.info("groupplug: barrier of %s waits for %s", self.group, ", ".join(self.members))
        self.defer(
            trigger=BarrierTrigger(dag_id=ti.dag_id, run_id=ti.run_id, members=self.members,
                                   lead=self.lead, started_at=started_at,
                                   timeout=self.barrier_timeout, first_arrival=first_arrival),
            method_name="execute_complete",
            timeout=self._deferral_timeout(first_arrival, started_at),
        )

    def _deferral_timeout(self, first_arrival: float | None, now: float) -> timedelta | None:
        """Airflow's own deadline for the deferral, enforced by the scheduler, so the barrier
        timeout holds even when no triggerer runs.

        The trigger decides first (it names who never arrived) while a triggerer runs: the
        deadline is :data:`DEFERRAL_MARGIN` later. When it fires, the task fails with
        ``TaskDeferralTimeout`` and its retry (``INFRA_RETRIES``) decides from the members'
        records at once: timed out (the same message), or, when no member had arrived at the
        deferral (the deadline then counted from it, too early), deferring again with the
        exact one."""
        if self.barrier_timeout is None:
            return None
        waited = now - first_arrival if first_arrival is not None else 0.0
        return timedelta(seconds=max(self.barrier_timeout - waited, 0.0) + DEFERRAL_MARGIN)

    def _first_arrival(self, ti: Any, states: Mapping[str, Any]) -> float | None:
        """When the first member arrived, from the setups' own records (they may have arrived
        before this task started)."""
        if self.barrier_timeout is None:
            return None
        times = []
        for tid in self.members.values():
            if states.get(tid) == "success":
                record = ti.xcom_pull(task_ids=tid, key=naming.XCOM_SETUP) or {}
                times.append(record.get("finished_at") or time.time())
        return min(times, default=None)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        ti = context["ti"]
        waiting = [m for m in event["arrived"]]
        if event["outcome"] == RELEASED:
            self.log.info("groupplug: barrier of %s released (left: %s)", self.group,
                          ", ".join(event["left"]) or "none")
            ti.xcom_push(key=naming.XCOM_BARRIER, value={"outcome": RELEASED, **event})
            return
        if event["outcome"] == TIMED_OUT:
            reason = str(BarrierTimeout(self.group, event["waited"], event["missing"]))
        else:
            reason = "lead finished"
        ti.xcom_push(key=naming.XCOM_BARRIER, value={
            **event, "reason": reason, "reasons": {m: reason for m in waiting}})
        raise AirflowFailException(reason)
