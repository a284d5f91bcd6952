"""A deferred member stays under its group's watch: its trigger runs inside a groupplug trigger.

When a member defers, :mod:`groupplug.airflow.member` replaces its trigger with
:class:`GroupDeferTrigger`, which runs the member's own trigger in the triggerer and, between its
events, reads the group's states (one ``get_task_states`` call per poll, as running members do)
into the core ``GroupEngine``. The member's own event resumes the task into the member's method
as usual. When the engine stops or restarts the member, the inner trigger's run is cancelled
(so its ``finally``/cleanup code runs, and ``cleanup()`` is called) and the task resumes into
:func:`groupplug.airflow.member.resume_member`, which ends it in the group's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from .watch import GroupInfo, GroupWatch, Verdict


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
        run_id: str, poll_interval: float = 1.0,
    ):
        super().__init__()
        self.inner = list(inner)
        self.info = dict(info)
        self.member = member
        self.dag_id = dag_id
        self.run_id = run_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "inner": self.inner, "info": self.info, "member": self.member,
            "dag_id": self.dag_id, "run_id": self.run_id, "poll_interval": self.poll_interval,
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
                    yield TriggerEvent({"groupplug": verdict.kind, "state": verdict.state.value,
                                        "reason": verdict.reason})
                    return
        finally:
            if not pending.done():
                await _cancel(pending, events, inner)

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
