"""Groups as Prefect subflows; the subflow runs the status engine and its members as tasks.

Each group becomes a subflow named after it (nested groups nest), so it is its own run in the
UI. The subflow submits its members concurrently, reads their events from the group's channel,
feeds them to :class:`groupplug.status.GroupEngine` and carries out what it decides: release the
barrier, stop members (their state and reason become the task run's final state and message),
restart them. It returns the group's state, so the subflow's final state is the group's.

Why the engine lives in the subflow and not in task state hooks: measured on Prefect 3.8, hooks
run in the finishing task's thread and cannot change any state (their return is ignored), and a
running task cannot be cancelled through its future or the API; so the decisions are made in
one place that sees every member and stop is cooperative (the member kills its process group).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from groupplug.exceptions import BarrierTimeout
from groupplug.graph import dependencies, selected_paths
from groupplug.report import GroupReport, MemberReport, RunReport, roll_up_parents
from groupplug.spec import Group, Task, Workflow
from groupplug.states import GroupState, MemberState
from groupplug.status import Action, ActionKind, Event, EventKind, GroupEngine

from .channel import BROADCAST, ChannelSpec
from .directives import task_options
from .member_run import MemberContext, MemberRun, commands_box, events_box

log = logging.getLogger(__name__)
_SATISFIED = (GroupState.SUCCEEDED, GroupState.SKIPPED)


@dataclass
class RunOptions:
    """How a workflow runs on Prefect."""

    task_runner: Callable[[int], Any] | None = None  # members -> a task runner for one group
    channel: str | None = None  # "memory" | "variables"; default: by task runner
    selected: Iterable[str] = ()
    on_update: Callable[[RunReport], None] | None = None
    publish: bool = True  # a table artifact per group


@dataclass
class _Context:
    workflow: Workflow
    options: RunOptions
    report: RunReport
    deps: dict[str, tuple[str, ...]]
    chosen: set[str]
    hook: Any = None
    runnable: set[str] = field(default_factory=set)


def _member_body(ctx: MemberContext) -> Any:
    from prefect.logging import get_run_logger
    from prefect.states import Completed, Failed

    outcome = MemberRun(ctx, get_run_logger()).run()
    message = outcome["reason"] or outcome["state"]
    if outcome["state"] == MemberState.SUCCEEDED.value:
        return Completed(message=message, data=outcome)
    return Failed(message=message, data=outcome)


def default_task_runner(members: int) -> Any:
    from prefect.task_runners import ThreadPoolTaskRunner

    # Every member must run at once (the barrier): one thread each.
    return ThreadPoolTaskRunner(max_workers=max(members, 1))


def channel_kind(runner: Any, requested: str | None) -> str:
    if requested:
        return requested
    from prefect.task_runners import ThreadPoolTaskRunner

    return "memory" if isinstance(runner, ThreadPoolTaskRunner) else "variables"


def workflow_flow(workflow: Workflow, options: RunOptions | None = None) -> Any:
    """A Prefect flow running ``workflow``; calling it returns the run's report as JSON."""
    from prefect import flow

    options = options or RunOptions()

    @flow(name=workflow.name, validate_parameters=False)
    def run_workflow() -> Any:
        from prefect.states import Completed, Failed

        report = run_groups(workflow, options)
        # A failed group is never reported under a Completed parent: the run fails, and still
        # carries the report.
        if report.state == "failed":
            failed = [p for p, g in report.groups.items() if g.state not in _SATISFIED]
            return Failed(message=f"groups not succeeded: {', '.join(failed)}",
                          data=report.to_json())
        return Completed(data=report.to_json())

    return run_workflow


def run_groups(workflow: Workflow, options: RunOptions) -> RunReport:
    """Run every (selected) group as nested subflows, in dependency order; the report."""
    from groupplug.plugins import get_plugin_manager

    report = RunReport(workflow.name, "prefect")
    chosen = selected_paths(workflow, list(options.selected))
    for path, group in workflow.walk():
        lead = group.lead.name if group.lead else None
        skipped = path not in chosen
        report.groups[path] = GroupReport(
            GroupState.SKIPPED if skipped else GroupState.PENDING, lead,
            {t.name: MemberReport(MemberState.SKIPPED if skipped else MemberState.PENDING,
                                  "not selected" if skipped else "") for t in group.tasks})
    ctx = _Context(workflow, options, report, dependencies(workflow), chosen,
                   get_plugin_manager().hook)
    ctx.runnable = {p for p, g in workflow.walk() if g.tasks and p in chosen}
    for path, group in _ordered(workflow.groups, "", ctx.deps):
        _run_node(ctx, path, group)
    roll_up_parents(report, ctx.runnable)
    return report


def _below(path: str, deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [p for p in deps if p == path or p.startswith(path + ".")]


def _ordered(groups: Iterable[Group], prefix: str,
             deps: Mapping[str, tuple[str, ...]]) -> list[tuple[str, Group]]:
    """Siblings in an order that respects the dependencies between their subtrees."""
    nodes = [(f"{prefix}.{g.name}" if prefix else g.name, g) for g in groups]
    after: dict[str, set[str]] = {}
    for path, _ in nodes:
        needs = {d for p in _below(path, deps) for d in deps[p]}
        after[path] = {other for other, _ in nodes if other != path
                       and any(d == other or d.startswith(other + ".") for d in needs)}
    ordered: list[tuple[str, Group]] = []
    done: set[str] = set()
    while len(ordered) < len(nodes):
        ready = [(p, g) for p, g in nodes if p not in done and after[p] <= done]
        if not ready:  # dependencies cross subtrees both ways: keep declaration order
            ready = [(p, g) for p, g in nodes if p not in done][:1]
        ordered.append(ready[0])
        done.add(ready[0][0])
    return ordered


#: Running group bodies by key: a subflow's function must pickle (Dask serializes the flow run
#: context, flow included, with every task it submits), so it is a module-level function that
#: finds its group here instead of a closure over the run's state.
_BODIES: dict[str, tuple[_Context, str, Group]] = {}


def _group_body(key: str) -> Any:
    ctx, path, group = _BODIES[key]
    if group.tasks:
        _run_members(ctx, path, group)
    for child_path, child in _ordered(group.children, path, ctx.deps):
        _run_node(ctx, child_path, child)
    roll_up_parents(ctx.report, ctx.runnable)
    return _final_state(ctx.report.groups[path])


def _run_node(ctx: _Context, path: str, group: Group) -> None:
    if path not in ctx.chosen:
        return
    from prefect import flow, tags

    name = f"task {group.name}" if group.implicit else group.name
    runner = (ctx.options.task_runner or default_task_runner)(len(group.tasks))
    subflow = flow(name=name, task_runner=runner, validate_parameters=False)(_group_body)
    key = f"{id(ctx)}:{path}"
    _BODIES[key] = (ctx, path, group)
    try:
        with tags("groupplug", f"group:{path}"):
            state = subflow(key, return_state=True)
    finally:
        del _BODIES[key]
    report = ctx.report.groups[path]
    if state.is_failed() or state.is_crashed():
        # The subflow itself broke (not a member): its group failed, never left "pending".
        for member in report.members.values():
            if not member.state.finished:
                member.state, member.reason = MemberState.FAILED, f"group run {state.name}: " \
                    f"{state.message}"
        if not report.state.finished:
            report.state = GroupState.FAILED


def _final_state(group: GroupReport) -> Any:
    from prefect.states import Completed, Failed

    counts: dict[str, int] = {}
    for member in group.members.values():
        counts[member.state.value] = counts.get(member.state.value, 0) + 1
    message = f"group {group.state.value}; lead {group.lead}; {counts}"
    return Completed(message=message) if group.state in _SATISFIED else Failed(message=message)


def _run_members(ctx: _Context, path: str, group: Group) -> None:
    report = ctx.report.groups[path]
    engine = GroupEngine.from_group(group, name=path)
    failed = [d for d in ctx.deps.get(path, ()) if d in ctx.chosen
              and ctx.report.groups[d].state not in _SATISFIED]
    if failed:
        _apply(ctx, path, group, engine, engine.upstream_failed(f"upstream group {failed[0]} "
                                                                "failed"), None, {})
        return
    _Orchestra(ctx, path, group, engine).run()
    if ctx.options.publish:
        from .rollup import publish_group

        publish_group(path, report, ctx.report.counts(path))


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
        self.barrier_since: float | None = None
        self.cursor: dict[str, int] = {}

    def run(self) -> None:
        try:
            self._submit_ready()
            while not self.engine.finished:
                for box, message in self.channel.read(list(self.by_box), self.cursor, 0.1):
                    self._event(self.by_box[box], message)
                self._check_barrier_timeout()
                self._check_crashed()
                self._submit_ready()
            self._wait_members()
        finally:
            if self.spec.kind == "variables":
                self.channel.delete_all()  # type: ignore[attr-defined]
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
                self._apply(self.engine.apply(Event(EventKind.UPSTREAM_FAILED, t.name,
                                                    f"input {bad[0]} did not succeed")))
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
        if t.command is None:
            raise RuntimeError(f"member {self.path}.{t.name} has nothing to run: give it a "
                               "command or fn=")
        return MemberContext(self.path, t.name, self.index[t.name], t.command, t.setup,
                             t.retries, t.retry_delay, self.spec)

    def _event(self, member: str, message: dict[str, Any]) -> None:
        kind = EventKind(message["kind"])
        report = self.ctx.report.groups[self.path].members[member]
        report.setup_finished_at = message.get("setup_finished_at") or report.setup_finished_at
        report.started_at = message.get("started_at") or report.started_at
        report.finished_at = message.get("finished_at") or report.finished_at
        if kind is EventKind.ARRIVED and self.engine.barrier and self.barrier_since is None:
            self.barrier_since = time.monotonic()
        event = Event(kind, member, message.get("reason", ""), message.get("epoch", -1))
        self._apply(self.engine.apply(event))

    def _apply(self, actions: list[Action]) -> None:
        _apply(self.ctx, self.path, self.group, self.engine, actions, self.channel, self.index)
        if any(a.kind in (ActionKind.RELEASE, ActionKind.RESTART) for a in actions):
            self.barrier_since = None

    def _check_barrier_timeout(self) -> None:
        timeout = self.group.barrier_timeout
        if timeout is None or self.barrier_since is None or self.engine.finished:
            return
        if time.monotonic() - self.barrier_since >= timeout:
            self.barrier_since = None
            reason = str(BarrierTimeout(self.group.name, timeout, self.engine.not_arrived()))
            log.warning("%s", reason)
            self._apply(self.engine.barrier_timed_out(reason))

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
                self._apply(self.engine.apply(Event(
                    EventKind.FAILED, name, f"task run {state.name}: {state.message}")))

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


def _apply(ctx: _Context, path: str, group: Group, engine: GroupEngine, actions: list[Action],
           channel: Any, index: Mapping[str, int]) -> None:
    for action in actions:
        if action.kind is ActionKind.RELEASE and channel is not None:
            if len(action.members) > 1:
                log.info("group %s: barrier epoch %d released for %s", path, action.epoch,
                         ", ".join(action.members))
            release = {"op": "release", "epoch": action.epoch, "members": list(action.members)}
            if len(action.members) == 1:  # no barrier: wake that member alone, not everyone
                channel.post(commands_box(index[action.members[0]]), release)
            else:
                channel.post(BROADCAST, release)
        elif action.kind is ActionKind.STOP and channel is not None:
            log.info("%s.%s stopped as %s: %s", path, action.member, action.state,
                     action.reason)
            channel.post(commands_box(index[action.member or ""]), {
                "op": "stop", "state": action.state.value if action.state else "failed",
                "reason": action.reason})
        elif action.kind is ActionKind.RESTART and channel is not None:
            channel.post(commands_box(index[action.member or ""]),
                         {"op": "restart", "epoch": action.epoch})
    _sync(ctx, path, engine)


def _sync(ctx: _Context, path: str, engine: GroupEngine) -> None:
    report = ctx.report.groups[path]
    for name, member in report.members.items():
        new = engine.states[name]
        if member.state is not new:
            ctx.hook.groupplug_member_state_changed(run_id=ctx.report.run_id, group=path,
                                                    member=name, old=member.state, new=new,
                                                    reason=engine.reasons[name])
        member.state, member.reason = new, engine.reasons[name]
        member.attempts = engine.attempts[name]
    if report.state is not engine.state:
        ctx.hook.groupplug_group_state_changed(run_id=ctx.report.run_id, group=path,
                                               old=report.state, new=engine.state)
        report.state = engine.state
    if ctx.options.on_update is not None:
        ctx.options.on_update(ctx.report)
