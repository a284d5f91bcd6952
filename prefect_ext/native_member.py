"""A Python member's life inside its Prefect task: setup, arrive, body, retries, stop.

The member's ``@task`` function is wrapped (:func:`member_fn`) so that the task run Prefect
creates *is* the member: its events go to the group's channel, the group's decisions (release,
stop, restart) come back over it, exactly as for a shell member (:mod:`.member_run`). What it
runs is the user's function: sync bodies in a forked process or a thread (:mod:`._work`), async
bodies as an asyncio task of the task run's own loop (cancelled to stop).

A stopped member's task run ends in the state the group gave it (``Completed``/``Failed``) with
the reason (``lead finished``) as its Prefect state message; a failed body ends ``Failed`` with
its own exception, so the run page shows the real traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from groupplug.status import EventKind

from ._work import ForkedWork, ThreadWork, Work, current_body
from .channel import BROADCAST, ChannelSpec
from .member_run import commands_box, events_box

POLL = 0.05

#: The live group (:class:`~.live_group.LiveGroup`) whose ``with`` block this context is in;
#: None inside a member's body, so tasks a member calls belong to that member, not the group.
current_group: contextvars.ContextVar[Any] = contextvars.ContextVar("groupplug_group",
                                                                    default=None)


@dataclass
class NativeSpec:
    """What a member task needs to find its group; picklable for process and Dask runners."""

    group: str
    name: str
    index: int
    channel: ChannelSpec
    setup: Callable[..., Any] | None = None
    retries: int = 0
    retry_delay: float = 0.0
    isolate: str = "process"  # "process" | "thread": where a sync body runs
    arrive_in_body: bool = False  # the body calls arrive(); no arrival before it
    barrier: bool = True  # False: an arrival is released at once, so do not wait for it


class _Stopped(Exception):
    def __init__(self, command: dict[str, Any]):
        self.command = command


class _Restart(Exception):
    def __init__(self, epoch: int):
        self.epoch = epoch


def _stopped_state(command: dict[str, Any]) -> Any:
    from prefect.states import Completed, Failed

    reason = command.get("reason") or command.get("state", "stopped")
    if command.get("state") == "succeeded":
        return Completed(message=reason)
    return Failed(message=reason)


class _Mailbox:
    """The member's side of the channel: post events, collect commands."""

    def __init__(self, spec: NativeSpec):
        self.spec = spec
        self.channel = spec.channel.open()
        self.cursor: dict[str, int] = {}
        self.inbox: list[dict[str, Any]] = []
        self.record: dict[str, Any] = {"setup_finished_at": None, "started_at": None,
                                       "finished_at": None}
        from prefect.context import TaskRunContext

        context = TaskRunContext.get()
        self.task_run = str(context.task_run.id) if context and context.task_run else None

    def emit(self, kind: EventKind, reason: str = "", epoch: int = -1) -> None:
        if kind in (EventKind.SUCCEEDED, EventKind.FAILED):
            self.record["finished_at"] = time.time()
        self.channel.post(events_box(self.spec.index), {
            "kind": kind.value, "reason": reason, "epoch": epoch, "at": time.time(),
            "task_run": self.task_run, **self.record})

    def poll(self, wait: float) -> None:
        for box, message in self.channel.read([commands_box(self.spec.index), BROADCAST],
                                              self.cursor, wait):
            if box == BROADCAST and self.spec.name not in message.get("members", ()):
                continue
            self.inbox.append(message)

    def take(self, op: str) -> dict[str, Any] | None:
        for message in self.inbox:
            if message["op"] == op:
                self.inbox.remove(message)
                return message
        return None

    def check(self) -> None:
        """Raise for a stop or restart the group sent."""
        stop = self.take("stop")
        if stop is not None:
            raise _Stopped(stop)
        restart = self.take("restart")
        if restart is not None:
            raise _Restart(restart["epoch"])

    def released(self, epoch: int) -> int | None:
        release = self.take("release")
        if release is not None and release["epoch"] >= epoch:
            return int(release["epoch"])
        return None


class _SyncLife(_Mailbox):
    def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            self.poll(0)
            self.check()
            self._setup()
            return self._main(fn, args, kwargs)
        except _Stopped as stopped:
            return _stopped_state(stopped.command)
        finally:
            self.channel.detach()

    def _setup(self) -> None:
        if self.spec.setup is not None:
            self.emit(EventKind.SETUP_STARTED)
            while True:
                try:
                    kind, value = self._work(self.spec.setup, (), {}, -1)
                    break
                except _Restart:
                    continue  # a restart before the barrier changes nothing for setup
            if kind == "error":
                self.emit(EventKind.FAILED, f"setup failed: {type(value).__name__}: {value}")
                raise value
        self.record["setup_finished_at"] = time.time()

    def _arrive(self, epoch: int) -> int:
        self.emit(EventKind.ARRIVED, epoch=epoch)
        if not self.spec.barrier:  # released at once (a stop that comes stops the body)
            self.poll(0)
            self.check()
            return epoch
        while True:
            self.poll(0.5)
            try:
                self.check()
            except _Restart as restart:
                epoch = restart.epoch
                self.emit(EventKind.ARRIVED, epoch=epoch)
                continue
            if (released := self.released(epoch)) is not None:
                return released

    def _main(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        failures, epoch = 0, -1
        while True:
            try:
                if not self.spec.arrive_in_body:
                    epoch = self._arrive(epoch)
                self.record["started_at"] = time.time()
                self.emit(EventKind.STARTED)
                kind, value = self._work(fn, args, kwargs, epoch)
            except _Restart as restart:
                epoch = restart.epoch
                continue
            if kind == "ok":
                self.emit(EventKind.SUCCEEDED)
                return value
            failures += 1
            why = f"{type(value).__name__}: {value}"
            if failures > self.spec.retries:
                self.emit(EventKind.FAILED, why)
                raise value
            self.emit(EventKind.RETRYING, f"{why}; retry {failures} of {self.spec.retries}")
            epoch = self._retry_wait()

    def _retry_wait(self) -> int:
        deadline = time.monotonic() + self.spec.retry_delay
        epoch = -1
        while time.monotonic() < deadline:
            self.poll(min(0.2, max(deadline - time.monotonic(), 0)))
            try:
                self.check()
            except _Restart as restart:
                epoch = restart.epoch
        return epoch

    def _work(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
              epoch: int) -> tuple[str, Any]:
        work: Work = (ForkedWork if self.spec.isolate == "process" else ThreadWork)(fn, args,
                                                                                   kwargs)
        while True:
            message = work.next_message(POLL)
            if message is not None and message[0] == "arrive" and not self.spec.arrive_in_body:
                work.reply("error:" + _not_declared(self.spec))
                continue
            if message is not None and message[0] == "arrive":
                try:
                    epoch = self._arrive(epoch)
                except (_Stopped, _Restart):
                    work.stop()
                    raise
                work.reply("released")
                continue
            if message is not None:
                return message
            self.poll(0)
            try:
                self.check()
            except (_Stopped, _Restart):
                work.stop()
                raise


class _AsyncBody:
    def __init__(self, life: _AsyncLife, epoch: list[int]):
        self.life, self.epoch = life, epoch

    async def arrive_async(self) -> None:
        if not self.life.spec.arrive_in_body:
            raise RuntimeError(_not_declared(self.life.spec))
        self.epoch[0] = await self.life.arrive(self.epoch[0])


class _AsyncLife(_Mailbox):
    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
        try:
            self.poll(0)
            self.check()
            if self.spec.setup is not None:
                self.emit(EventKind.SETUP_STARTED)
                try:
                    await self._body(self.spec.setup, (), {}, [-1])
                except _Restart:
                    pass
                except Exception as exc:
                    self.emit(EventKind.FAILED, f"setup failed: {type(exc).__name__}: {exc}")
                    raise
            self.record["setup_finished_at"] = time.time()
            return await self._main(fn, args, kwargs)
        except _Stopped as stopped:
            return _stopped_state(stopped.command)
        finally:
            self.channel.detach()

    async def arrive(self, epoch: int) -> int:
        self.emit(EventKind.ARRIVED, epoch=epoch)
        if not self.spec.barrier:  # released at once (a stop that comes stops the body)
            self.poll(0)
            self.check()
            return epoch
        while True:
            self.poll(0)
            try:
                self.check()
            except _Restart as restart:
                epoch = restart.epoch
                self.emit(EventKind.ARRIVED, epoch=epoch)
                continue
            if (released := self.released(epoch)) is not None:
                return released
            await asyncio.sleep(POLL)

    async def _main(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        failures, epoch = 0, [-1]
        while True:
            try:
                if not self.spec.arrive_in_body:
                    epoch[0] = await self.arrive(epoch[0])
                self.record["started_at"] = time.time()
                self.emit(EventKind.STARTED)
                value = await self._body(fn, args, kwargs, epoch)
            except _Restart as restart:
                epoch[0] = restart.epoch
                continue
            except (_Stopped, asyncio.CancelledError):
                raise
            except Exception as exc:
                failures += 1
                why = f"{type(exc).__name__}: {exc}"
                if failures > self.spec.retries:
                    self.emit(EventKind.FAILED, why)
                    raise
                self.emit(EventKind.RETRYING, f"{why}; retry {failures} of {self.spec.retries}")
                await asyncio.sleep(self.spec.retry_delay)
                epoch[0] = -1
                continue
            self.emit(EventKind.SUCCEEDED)
            return value

    async def _body(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                    epoch: list[int]) -> Any:
        token = current_body.set(_AsyncBody(self, epoch))
        try:
            if inspect.iscoroutinefunction(fn):
                body = asyncio.ensure_future(fn(*args, **kwargs))
            else:
                body = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        finally:
            current_body.reset(token)
        while True:
            done, _ = await asyncio.wait({body}, timeout=POLL)
            if done:
                return body.result()
            self.poll(0)
            try:
                self.check()
            except (_Stopped, _Restart):
                body.cancel()
                await asyncio.gather(body, return_exceptions=True)
                raise


def _not_declared(spec: NativeSpec) -> str:
    short = spec.group.rpartition(".")[2]
    return (f"member {spec.group}.{spec.name} called arrive() but it already arrived at the "
            f"barrier before its body started; to arrive inside the body, name it: "
            f"group({short!r}, arrive_in_body=[{spec.name.partition('[')[0]!r}])")


def member_fn(spec: NativeSpec, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a member of its group, with ``fn``'s signature (Prefect binds parameters by
    it)."""
    # The wrappers refer only to module-level functions: Dask pickles them by value, with the
    # globals they use, and a ContextVar cannot be pickled.
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_member(*args: Any, **kwargs: Any) -> Any:
            return await _run_async(spec, fn, args, kwargs)

        return async_member

    @functools.wraps(fn)
    def sync_member(*args: Any, **kwargs: Any) -> Any:
        return _run_sync(spec, fn, args, kwargs)

    return sync_member


def _run_sync(spec: NativeSpec, fn: Callable[..., Any], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
    token = current_group.set(None)
    try:
        return _SyncLife(spec).run(fn, args, kwargs)
    finally:
        current_group.reset(token)


async def _run_async(spec: NativeSpec, fn: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
    token = current_group.set(None)
    try:
        return await _AsyncLife(spec).run(fn, args, kwargs)
    finally:
        current_group.reset(token)


def arrive() -> None:
    """Arrive at the group's barrier from inside a member's body and wait for its release.

    Only for members named in ``group(..., arrive_in_body=[...])`` (others arrive before
    their body starts). In an ``async`` member use ``await arrive_async()``.
    """
    body = current_body.get()
    if body is None:
        raise RuntimeError("groupplug.prefect.arrive() is for the body of a group member whose "
                           "group names it in arrive_in_body=[...]; call it inside that task")
    if isinstance(body, _AsyncBody):
        raise RuntimeError("in an async member use 'await groupplug.prefect.arrive_async()'")
    body.arrive()


async def arrive_async() -> None:
    """``arrive()`` for ``async`` member bodies."""
    body = current_body.get()
    if not isinstance(body, _AsyncBody):
        raise RuntimeError("groupplug.prefect.arrive_async() is for the body of an async group "
                           "member named in arrive_in_body=[...]; in a sync body use arrive()")
    await body.arrive_async()
