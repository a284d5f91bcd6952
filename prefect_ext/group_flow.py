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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groupplug import interrupts
from groupplug.graph import dependencies, selected_paths
from groupplug.report import GroupReport, MemberReport, RunReport, roll_up_parents
from groupplug.spec import Group, Workflow
from groupplug.states import GroupState, MemberState
from groupplug.status import GroupEngine

from .channel import channel_kind  # noqa: F401 - where callers have found it
from .orchestra import _Orchestra, group_driver

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
    #: The workflow run's directory ({{output}}, {{input:N}}; :mod:`groupplug.launch`).
    run_dir: Path | None = None


def default_task_runner(members: int) -> Any:
    from prefect.task_runners import ThreadPoolTaskRunner

    # Every member must run at once (the barrier): one thread each.
    return ThreadPoolTaskRunner(max_workers=max(members, 1))


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
    ctx.run_dir = _run_dir()
    _run_side_by_side(ctx, workflow.groups, "")
    roll_up_parents(report, ctx.runnable)
    return report


def _run_dir() -> Path:
    """One directory per flow run (the flow run calling :func:`run_groups`), shared by its
    members on this host, or on every host with a shared ``GROUPPLUG_DATA_DIR``."""
    import uuid

    from prefect.runtime import flow_run

    from groupplug.launch import engine_run_dir

    return engine_run_dir("prefect", flow_run.get_id() or f"no-flow-run-{uuid.uuid4().hex}")


def _below(path: str, deps: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [p for p in deps if p == path or p.startswith(path + ".")]


def _sibling_deps(nodes: list[tuple[str, Group]],
                  deps: Mapping[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """For each sibling, the siblings whose subtrees its subtree waits for."""
    after: dict[str, set[str]] = {}
    for path, _ in nodes:
        needs = {d for p in _below(path, deps) for d in deps[p]}
        after[path] = {other for other, _ in nodes if other != path
                       and any(d == other or d.startswith(other + ".") for d in needs)}
    return after


def _run_side_by_side(ctx: _Context, groups: Iterable[Group], prefix: str) -> None:
    """Run sibling groups, each as soon as the siblings it waits for are done: independent
    groups run side by side (each subflow in a thread of its own, with this context)."""
    import contextvars
    import threading

    nodes = [(f"{prefix}.{g.name}" if prefix else g.name, g) for g in groups]
    after = _sibling_deps(nodes, ctx.deps)
    done: set[str] = set()
    running: dict[str, threading.Thread] = {}
    errors: list[BaseException] = []

    def run(path: str, group: Group) -> None:
        try:
            _run_node(ctx, path, group)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(exc)

    while len(done) < len(nodes) and not errors:
        ready = [(p, g) for p, g in nodes if p not in done and p not in running
                 and after[p] <= done]
        if not ready and not running:  # dependencies cross subtrees both ways: declaration order
            ready = [(p, g) for p, g in nodes if p not in done][:1]
        for path, group in ready:
            thread = threading.Thread(target=contextvars.copy_context().run,
                                      args=(run, path, group), name=f"groupplug-{path}")
            running[path] = thread
            thread.start()
        finished = _wait_any(running)
        done.add(finished)
        del running[finished]
    for thread in running.values():
        thread.join()
    if errors:
        raise errors[0]


def _wait_any(running: Mapping[str, Any]) -> str:
    while True:
        for path, thread in running.items():
            thread.join(0.02)
            if not thread.is_alive():
                return path


#: Running group bodies by key: a subflow's function must pickle (Dask serializes the flow run
#: context, flow included, with every task it submits), so it is a module-level function that
#: finds its group here instead of a closure over the run's state.
_BODIES: dict[str, tuple[_Context, str, Group]] = {}


def _group_body(key: str) -> Any:
    ctx, path, group = _BODIES[key]
    if group.tasks:
        _run_members(ctx, path, group)
    _run_side_by_side(ctx, group.children, path)
    roll_up_parents(ctx.report, ctx.runnable)
    report = ctx.report.groups[path]
    below = {p: g for p, g in ctx.report.groups.items() if p.startswith(path + ".")}
    if below and not group.tasks and ctx.options.publish:  # a parent: its roll-up artifact
        from .rollup import publish_group

        publish_group(path, report, children=below)
    return _final_state(path, report, below)


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


def _final_state(path: str, group: GroupReport, below: Mapping[str, GroupReport]) -> Any:
    from prefect.states import Completed, Failed

    from .rollup import final_message

    message = final_message(path, group, below)
    return Completed(message=message) if group.state in _SATISFIED else Failed(message=message)


def _run_members(ctx: _Context, path: str, group: Group) -> None:
    report = ctx.report.groups[path]
    engine = GroupEngine.from_group(group, name=path)
    failed = [d for d in ctx.deps.get(path, ()) if d in ctx.chosen
              and ctx.report.groups[d].state not in _SATISFIED]
    if failed:
        driver = group_driver(ctx, path, engine, None, lambda action: None)
        driver.carry_out(engine.upstream_failed(f"upstream group {failed[0]} failed"))
        return
    interrupted = interrupts.requested()
    if interrupted:  # Ctrl-C or SIGTERM came before this group started: it never runs
        driver = group_driver(ctx, path, engine, None, lambda action: None)
        driver.carry_out(engine.skip(f"{interrupted} before the group started"))
        return
    _Orchestra(ctx, path, group, engine).run()
    if ctx.options.publish:
        from .rollup import publish_group

        publish_group(path, report, ctx.report.counts(path))


