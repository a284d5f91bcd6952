"""How the task runs a ``with group(...)`` block starts become its members.

Prefect starts a task run in two places: ``Task.__call__`` calls ``prefect.task_engine.run_task``
(direct calls, sync or async), and ``.submit()``/``.map()`` call the flow run context's task
runner (``map`` submits each item through the runner's own ``submit``). So:

- the block's flow run context gets a :class:`GroupTaskRunner` that wraps the flow's runner:
  every submit (and so every mapped item) joins the group, then goes to the real runner;
- ``run_task`` is wrapped once, process-wide, by :func:`install`; the wrapper only acts when
  :data:`~.native_member.current_group` is set, a context variable set by the block. Context
  variables belong to one thread or asyncio task, so calls outside the block, in other threads
  or inside a member's own body (the member resets it) run as Prefect runs them.

Why not wrap ``Task.__call__``/``submit``/``map`` themselves: the runner is where Prefect
itself expands ``map`` into runs, so one place sees every item, in order, with its parameters.
A member is the caller's task with its function wrapped (:func:`~.native_member.member_fn`),
tagged ``groupplug`` and ``group:<path>``, its own ``retries`` taken over by the group (a retry
of one member can restart others: DESIGN section 3) and no result cache (a cached run would
skip the member's life and leave its group waiting).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import Any

from .live_group import LiveGroup
from .native_member import current_group, member_fn

_installed = threading.Lock()
_original_run_task: Any = None


def _retry_delay(task: Any) -> float:
    delay = getattr(task, "retry_delay_seconds", None) or 0
    if isinstance(delay, (list, tuple)):
        delay = delay[0] if delay else 0
    return float(delay) if not callable(delay) else 0.0


def as_member(group: LiveGroup, task: Any) -> tuple[Any, int]:
    """``task`` joined to ``group``: the member task to run, and its index in the group."""
    from prefect.cache_policies import NO_CACHE

    spec = group.join(task.name, int(getattr(task, "retries", 0) or 0), _retry_delay(task))
    member = task.with_options(task_run_name=f"{group.path}.{spec.name}",
                               tags={*task.tags, "groupplug", f"group:{group.path}"}
                               if group.options.member_tags else task.tags,
                               retries=0, cache_policy=NO_CACHE)
    member.fn = member_fn(spec, task.fn)
    member._groupplug_member = True  # noqa: SLF001 - a marker: never join a member twice
    return member, spec.index


def _futures_of(group: LiveGroup, values: Iterable[Any]) -> list[str]:
    from prefect.futures import PrefectFuture

    mine = getattr(group, "future_ids", {})
    return [mine[v.task_run_id] for v in values
            if isinstance(v, PrefectFuture) and v.task_run_id in mine]


def check_inputs(group: LiveGroup, task: Any, parameters: dict[str, Any],
                 wait_for: Any) -> None:
    """A member waiting for another member of its barrier group would wait forever."""
    if not group.engine.barrier:
        return
    waits = list(wait_for or ())
    needed = _futures_of(group, [*parameters.values(), *waits])
    if needed:
        from groupplug.exceptions import GroupplugValueError, Problem

        short = group.path.rpartition(".")[2]
        raise GroupplugValueError([Problem(
            f"group({short!r}): {task.name}", f"waits for {', '.join(needed)}, a member of the "
            "same barrier group; it would wait at the barrier for a member that waits for it",
            f"pass barrier=False to group({short!r}), or call {needed[0]} before the block")])


def _run_task(task: Any, task_run_id: Any = None, task_run: Any = None,
              parameters: dict[str, Any] | None = None, wait_for: Any = None,
              return_type: str = "result", dependencies: Any = None,
              context: Any = None) -> Any:
    group = current_group.get()
    if group is None or getattr(task, "_groupplug_member", False) or task_run is not None:
        return _original_run_task(task, task_run_id, task_run, parameters, wait_for,
                                  return_type, dependencies, context)
    check_inputs(group, task, parameters or {}, wait_for)
    member, index = as_member(group, task)
    group.settle()  # the block waits on this call: nobody else joins before it returns
    call = functools.partial(_original_run_task, member, task_run_id, task_run, parameters,
                             wait_for, return_type, dependencies, context)
    if member.isasync:
        return _tracked_async(group, index, call())
    try:
        return call()
    finally:
        group.direct_ended(index)


async def _tracked_async(group: LiveGroup, index: int, run: Any) -> Any:
    try:
        return await run
    finally:
        group.direct_ended(index)


def install() -> None:
    """Wrap ``prefect.task_engine.run_task`` once (``Task.__call__`` imports it per call)."""
    global _original_run_task
    import prefect.task_engine as engine

    with _installed:
        if _original_run_task is None:
            _original_run_task = engine.run_task
            engine.run_task = _run_task


def _settling(group: LiveGroup, method: Any) -> Any:
    @functools.wraps(method)
    def wait_on_member(*args: Any, **kwargs: Any) -> Any:
        if current_group.get() is group:
            group.settle()  # the block waits on a member: nobody joins before it returns
        return method(*args, **kwargs)

    return wait_on_member


def group_task_runner(group: LiveGroup, inner: Any) -> Any:
    """A task runner for the block: submits (and mapped items) join ``group``."""
    from prefect.task_runners import TaskRunner

    class GroupTaskRunner(TaskRunner):  # type: ignore[type-arg]
        def __init__(self) -> None:
            super().__init__()
            self._started = True

        @property
        def name(self) -> str:
            return getattr(inner, "name", "group")

        def duplicate(self) -> Any:
            return inner.duplicate()

        def submit(self, task: Any, parameters: dict[str, Any], wait_for: Any = None,
                   dependencies: Any = None) -> Any:
            if current_group.get() is not group or getattr(task, "_groupplug_member", False):
                return inner.submit(task, parameters, wait_for, dependencies)
            check_inputs(group, task, parameters, wait_for)
            member, index = as_member(group, task)
            try:
                future = inner.submit(member, parameters, wait_for, dependencies)
            except BaseException:
                group.direct_ended(index)  # it never ran: the group must not wait for it
                raise
            group.future_ids[future.task_run_id] = group.names[index]
            group.track(index, future)
            future.wait = _settling(group, future.wait)
            future.result = _settling(group, future.result)
            return future

        def map(self, task: Any, parameters: dict[str, Any], wait_for: Any = None) -> Any:
            return TaskRunner.map(self, task, parameters, wait_for)

    return GroupTaskRunner()
