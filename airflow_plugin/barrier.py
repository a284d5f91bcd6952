"""The deferrable barrier: a group's members start their main work together (DESIGN section 4).

``GroupBarrierOperator`` starts with the members' setup tasks and defers at once to
``BarrierTrigger``, so waiting holds no worker slot (the triggerer's event loop polls). A member
*arrives* when its setup task succeeded and *leaves* when it failed; the barrier releases when
every member that has not left has arrived. The lead leaving ends the barrier ("lead finished"),
and ``barrier_timeout`` fails it naming the members that never arrived. Members' main tasks are
downstream of the barrier, so Airflow's scheduler starts them all in the same scheduling loop.

The trigger reads states through ``RuntimeTaskInstance.get_task_states`` (the execution API,
wrapped in ``sync_to_async``): Airflow 3 gives triggers no database access.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from groupplug.barrier import barrier_released, missing_members
from groupplug.exceptions import BarrierTimeout

from . import naming

RELEASED, TIMED_OUT, LEAD_FINISHED = "released", "timed_out", "lead_finished"
LEFT = frozenset({"failed", "upstream_failed", "skipped", "removed"})


def barrier_outcome(
    members: Mapping[str, str], lead: str, states: Mapping[str, str | None],
    started_at: float, timeout: float | None, now: float,
) -> dict[str, Any] | None:
    """The event payload once the barrier is decided, else None. ``members``: name -> setup id."""
    arrived = [m for m, tid in members.items() if states.get(tid) == "success"]
    left = [m for m, tid in members.items() if states.get(tid) in LEFT]
    base = {"arrived": arrived, "left": left, "at": now}
    if lead in left:
        return {"outcome": LEAD_FINISHED, **base}
    if barrier_released(list(members), arrived, left):
        return {"outcome": RELEASED, **base}
    if timeout is not None and now - started_at >= timeout:
        missing = missing_members(list(members), arrived, left)
        return {"outcome": TIMED_OUT, "missing": missing, "waited": timeout, **base}
    return None


class BarrierTrigger(BaseTrigger):
    """Polls the members' setup states in the triggerer until the barrier is decided."""

    def __init__(
        self, *, dag_id: str, run_id: str, members: Mapping[str, str], lead: str,
        started_at: float, timeout: float | None = None, poll_interval: float = 0.25,
    ):
        super().__init__()
        self.dag_id = dag_id
        self.run_id = run_id
        self.members = dict(members)
        self.lead = lead
        self.started_at = started_at
        self.timeout = timeout
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "dag_id": self.dag_id, "run_id": self.run_id, "members": self.members,
            "lead": self.lead, "started_at": self.started_at, "timeout": self.timeout,
            "poll_interval": self.poll_interval,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        get_states = sync_to_async(RuntimeTaskInstance.get_task_states)
        while True:
            answer = await get_states(dag_id=self.dag_id, run_ids=[self.run_id],
                                      task_ids=list(self.members.values()))
            states = answer.get(self.run_id, {})
            event = barrier_outcome(self.members, self.lead, states, self.started_at,
                                    self.timeout, time.time())
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
        event = barrier_outcome(self.members, self.lead, answer.get(ti.run_id, {}), started_at,
                                self.barrier_timeout, started_at)
        if event is not None:
            return self.execute_complete(context, event)
        self.log.info("groupplug: barrier of %s waits for %s", self.group, ", ".join(self.members))
        self.defer(
            trigger=BarrierTrigger(dag_id=ti.dag_id, run_id=ti.run_id, members=self.members,
                                   lead=self.lead, started_at=started_at,
                                   timeout=self.barrier_timeout),
            method_name="execute_complete",
        )

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
