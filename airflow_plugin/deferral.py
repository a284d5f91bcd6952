"""A deferred member stays under its group's watch: its trigger runs inside a groupplug trigger.

When a member defers, :mod:`groupplug.airflow.member_run` replaces its trigger with
:class:`GroupDeferTrigger`, which runs the member's own trigger in the triggerer and, between its
events, reads the group's states (one ``get_task_states`` call per poll, as running members do)
into the core ``GroupEngine``. The member's own event resumes the task into the member's method
as usual. When the engine stops or restarts the member, the inner trigger's run is cancelled
(so its ``finally``/cleanup code runs, and ``cleanup()`` is called) and the trigger ends the task
itself in the group's state (``TaskSuccessEvent``/``TaskFailedEvent`` carrying the member's
record as XCom: no worker start, so a deferred member stops as fast as a running one). A restart,
or a failure Airflow would retry, resumes the task into
:func:`groupplug.airflow.member_run.resume_member` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from groupplug.states import MemberState

from . import naming
from .watch import GroupInfo, GroupWatch, Verdict, base_name


def load_trigger(serialized: Sequence[Any]) -> BaseTrigger:
    """A trigger from its ``serialize()`` pair ``(classpath, kwargs)``."""
    classpath, kwargs = serialized
    module, _, name = str(classpath).rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**dict(kwargs))


class GroupDeferTrigger(BaseTrigger):
    """Runs ``inner`` (a serialized trigger) until it fires or the group ends this member."""

    def __init__(
        self, *, inner: Sequence[Any], info: Mapping[str, Any], member: str, dag_id: str,
        run_id: str, poll_interval: float = 1.0, record: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.inner = list(inner)
        self.info = dict(info)
        self.member = member
        self.dag_id = dag_id
        self.run_id = run_id
        self.poll_interval = poll_interval
        self.record = dict(record or {})  # the member's record so far (runs, attempts, times)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "inner": self.inner, "info": self.info, "member": self.member,
            "dag_id": self.dag_id, "run_id": self.run_id, "poll_interval": self.poll_interval,
            "record": self.record,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        inner = load_trigger(self.inner)
        events = inner.run().__aiter__()
        pending = asyncio.ensure_future(events.__anext__())
        watch = GroupWatch(GroupInfo.from_dict(self.info))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=self.poll_interval)
                if pending in done:
                    try:
                        event = pending.result()
                    except StopAsyncIteration:
                        return  # the inner trigger ended without an event (it ended the task)
                    yield TriggerEvent({"groupplug": "inner", "payload": event.payload})
                    return
                verdict = await self._verdict(watch)
                if verdict is not None:
                    await _cancel(pending, events, inner)
                    self.log.info("groupplug: %s %s by its group: %s", self.member,
                                  verdict.kind, verdict.reason)
                    yield self._ending(verdict)
                    return
        finally:
            if not pending.done():
                await _cancel(pending, events, inner)

    def _ending(self, verdict: Verdict) -> TriggerEvent:
        """End the task from here when the group stopped it (no worker start: the stop takes as
        long as for a running member); resume it on a worker to restart it, or to fail it when
        Airflow would otherwise retry a failure the group decided."""
        from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent

        retries = GroupInfo.from_dict(self.info).retries.get(base_name(self.member), 0)
        if verdict.kind == "stop":
            record = {**self.record, "state": verdict.state.value, "reason": verdict.reason,
                      "stopped": True, "finished_at": time.time()}
            xcoms = {naming.XCOM_MEMBER: record}
            if verdict.state is MemberState.SUCCEEDED:
                return TaskSuccessEvent(xcoms=xcoms)
            if verdict.state is MemberState.SKIPPED:
                return TaskSkippedEvent(xcoms=xcoms)
            if not retries:
                return TaskFailedEvent(xcoms=xcoms)
        return TriggerEvent({"groupplug": verdict.kind, "state": verdict.state.value,
                             "reason": verdict.reason})

    async def _verdict(self, watch: GroupWatch) -> Verdict | None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        info = watch.info
        answer = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=self.dag_id, run_ids=[self.run_id], task_ids=info.watched_ids(self.member))
        states = answer.get(self.run_id, {})
        # Strict-mode ordering and barrier reasons need XCom reads, which a trigger cannot make;
        # the deferred member's own state and reason come from the engine all the same.
        actions = watch.update(states)
        return watch.verdict(self.member, actions)


async def _cancel(pending: asyncio.Future[Any], events: Any, inner: BaseTrigger) -> None:
    """Cancel the inner trigger's run so its cleanup code runs, then its ``cleanup()``."""
    pending.cancel()
    with contextlib.suppress(BaseException):
        await pending
    with contextlib.suppress(Exception):
        await events.aclose()
    with contextlib.suppress(Exception):
        await inner.cleanup()
