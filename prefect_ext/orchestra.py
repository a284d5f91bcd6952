"""One YAML/spec group's run inside its subflow: submit members, feed events, obey the engine.

:class:`_Orchestra` submits the group's members as tasks (shell commands through
:mod:`.member_run`, Python callables through :mod:`.native_member`: the same channel protocol),
reads their events from the group's channel, feeds them to :class:`~groupplug.status.GroupEngine`
and carries out its actions (release, stop, restart), keeping the run's report in step.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from groupplug import interrupts
from groupplug.driver import GroupDriver
from groupplug.spec import Group, Task
from groupplug.states import MemberState
from groupplug.status import Action, ActionKind, Event, EventKind, GroupEngine

from .channel import BROADCAST, ChannelSpec, channel_kind, delete_messages
from .directives import task_options
from .member_run import MemberContext, MemberRun, commands_box, events_box

if TYPE_CHECKING:
    from .group_flow import _Context

log = logging.getLogger(__name__)


def _member_body(ctx: MemberContext) -> Any:
    from prefect.logging import get_run_logger
    from prefect.states import Completed, Failed

    outcome = MemberRun(ctx, get_run_logger()).run()
    message = outcome["reason"] or outcome["state"]
    if outcome["state"] == MemberState.SUCCEEDED.value:
        return Completed(message=message, data=outcome)
    return Failed(message=message, data=outcome)


class _Orchestra:
    """One group's run: submit members, feed their events to the engine, obey its actions."""

    def __init__(self, ctx: _Context, path: str, group: Group, engine: GroupEngine):
        from prefect.context import get_run_context

        self.ctx, self.path, self.group, self.engine = ctx, path, group, engine
        runner = get_run_context().task_runner
        self.spec = ChannelSpec(channel_kind(runner, ctx.options.channel))
        self.channel = self.spec.open()
        self.index = {t.name: i for i, t in enumerate(group.tasks)}
        self.by_box = {events_box(i): t.name for i, t in enumerate(group.tasks)}
        self.futures: dict[str, Any] = {}
        self.cursor: dict[str, int] = {}
        self.driver = group_driver(ctx, path, engine, group.barrier_timeout, self._deliver)

    def run(self) -> None:
        try:
            self._submit_ready()
            while not self.engine.finished:
                self.channel.beat()
                for box, message in self.channel.read(list(self.by_box), self.cursor, 0.1):
                    self._event(self.by_box[box], message)
                interrupted = interrupts.requested()
                if interrupted:  # Ctrl-C or SIGTERM: stop every member, as a failed lead does
                    self.driver.carry_out(self.engine.abort(interrupted))
                self.driver.tick()
                self._check_crashed()
                self._submit_ready()
            self._wait_members()
        finally:
            if self.spec.kind == "variables":
                delete_messages(self.channel, self.path)
            self.channel.close()

    def _submit_ready(self) -> None:
        from prefect import task

        states = self.engine.states
        for t in self.group.tasks:
            if t.name in self.futures or states[t.name].finished:
                continue
            inside = [i for i in t.inputs if i in self.index and i != t.name]
            bad = [i for i in inside if states[i].finished and states[i] != MemberState.SUCCEEDED]
            if bad:
                self.driver.event(Event(EventKind.UPSTREAM_FAILED, t.name,
                                        f"input {bad[0]} did not succeed"))
                continue
            if any(states[i] is not MemberState.SUCCEEDED for i in inside):
                continue
            options = task_options(self.group.member_directives(t), where=f"{self.path}.{t.name}")
            if t.fn is not None:  # a Python member: the same channel, the native member's life
                self.futures[t.name] = self._submit_python(t, options)
                continue
            member_task = task(name=t.name, task_run_name=f"{self.path}.{t.name}",
                               **options)(_member_body)
            self.futures[t.name] = member_task.submit(self._context(t))

    def _submit_python(self, t: Task, options: dict[str, Any]) -> Any:
        from prefect import task
        from prefect.cache_policies import NO_CACHE

        from .native_member import NativeSpec, member_fn

        spec = NativeSpec(self.path, t.name, self.index[t.name], self.spec, setup=t.setup_fn,
                          retries=t.retries, retry_delay=t.retry_delay)
        body = member_fn(spec, t.fn)  # type: ignore[arg-type]
        made = task(name=t.name, task_run_name=f"{self.path}.{t.name}", cache_policy=NO_CACHE,
                    **{k: v for k, v in options.items() if k != "retries"})(body)
        return made.submit()

    def _context(self, t: Task) -> MemberContext:
        if t.command is None and not t.argv:
            raise RuntimeError(f"member {self.path}.{t.name} has nothing to run: give it a "
                               "command or fn=")
        plain = replace(t, fn=None, setup_fn=None, native=None)  # it may go to another process
        return MemberContext(self.path, t.name, self.index[t.name], t.command, t.setup,
                             t.retries, t.retry_delay, self.spec, task=plain,
                             run_dir=None if self.ctx.run_dir is None else str(self.ctx.run_dir),
                             cwd=os.getcwd())  # where the run started, as on the local engine

    def _event(self, member: str, message: dict[str, Any]) -> None:
        kind = EventKind(message["kind"])
        report = self.ctx.report.groups[self.path].members[member]
        report.setup_finished_at = message.get("setup_finished_at") or report.setup_finished_at
        report.started_at = message.get("started_at") or report.started_at
        report.finished_at = message.get("finished_at") or report.finished_at
        self.driver.event(Event(kind, member, message.get("reason", ""),
                                message.get("epoch", -1)))

    def _deliver(self, action: Action) -> None:
        """Carry out one of the status engine's actions: a command on the group's channel."""
        if action.kind is ActionKind.RELEASE:
            release = {"op": "release", "epoch": action.epoch, "members": list(action.members)}
            if len(action.members) == 1:  # no barrier: wake that member alone, not everyone
                self.channel.post(commands_box(self.index[action.members[0]]), release)
            else:
                self.channel.post(BROADCAST, release)
        elif action.kind is ActionKind.STOP:
            self.channel.post(commands_box(self.index[action.member or ""]), {
                "op": "stop", "state": action.state.value if action.state else "failed",
                "reason": action.reason})
        elif action.kind is ActionKind.RESTART:
            self.channel.post(commands_box(self.index[action.member or ""]),
                              {"op": "restart", "epoch": action.epoch})

    def _check_crashed(self) -> None:
        ended = [n for n, f in self.futures.items()
                 if not self.engine.states[n].finished and _done(f)]
        if not ended:
            return
        # A member posts its last event just before its task ends: read what is in flight.
        for box, message in self.channel.read(list(self.by_box), self.cursor, 0):
            self._event(self.by_box[box], message)
        for name in ended:
            state = self.futures[name].state
            if not self.engine.states[name].finished:
                # The task ended without reporting (crashed worker, timeout): it failed.
                self.driver.event(Event(EventKind.FAILED, name,
                                        f"task run {state.name}: {state.message}"))

    def _wait_members(self) -> None:
        from prefect.futures import wait

        wait(list(self.futures.values()), timeout=60)
        now = time.time()
        for member in self.ctx.report.groups[self.path].members.values():
            if member.state.finished and member.finished_at is None:
                member.finished_at = now


def _done(future: Any) -> bool:
    """Whether a member's task ended, without an API call where the runner can tell."""
    # PrefectFuture.state asks the API for an unfinished task: once per member per poll it made
    # a group of 100 members spend most of its time reading states.
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and hasattr(wrapped, "done"):
        return bool(wrapped.done())
    return bool(future.state.is_final())


def group_driver(ctx: _Context, path: str, engine: GroupEngine, barrier_timeout: float | None,
                 deliver: Any) -> GroupDriver:
    """The core driver of one group of this run: its report, the run's hooks and live view."""
    options = ctx.options
    on_change = (lambda: options.on_update(ctx.report)) if options.on_update else None
    return GroupDriver(path, engine, ctx.report.groups[path], deliver,
                       barrier_timeout=barrier_timeout, run_id=ctx.report.run_id,
                       hook=ctx.hook, on_change=on_change)
