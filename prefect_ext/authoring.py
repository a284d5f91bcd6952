"""Groups of ordinary ``@task`` calls inside a Prefect ``@flow``.

::

    from prefect import flow, task
    from groupplug.prefect import group

    @task
    def fit(data): ...
    @task
    def watch(): ...          # stopped when fit, the lead, ends

    @flow
    def training():
        with group("train", lead="fit") as train:
            data = prep()                  # direct calls: results usable at once
            monitors = watch.map(range(4))  # submitted and mapped runs join too
            model = fit(data)
        return model

Every task run the block starts (direct calls, ``.submit()``, ``.map()``, ``async`` tasks
awaited or gathered) is a member, keyed by its task name (``name[0]``, ``name[1]``... when one
task runs several times, in call order). The group is a flow run of its own named after it
(nested groups nest), its task runs tagged ``groupplug`` and ``group:<path>``. ``lead=`` names
the lead task: **when it ends, every member still running is stopped** and takes its state
(reason ``lead finished``): async members are cancelled, sync members run in a process of their
own by default so that even one blocked in C is stopped (``isolate="thread"`` to skip the fork).

Barrier: each member arrives before its body (after its ``setup=`` callable, if any) and starts
when every unfinished member has arrived; the barrier holds until the block waits on a member
or ends. Members named in ``arrive_in_body=`` arrive from their body with
:func:`~groupplug.prefect.arrive` instead. Waiting on members in the block by other means than
a future's ``.wait()``/``.result()`` (``prefect.futures.as_completed``, ``wait(..., timeout=)``)
does not tell the group that nobody else will join: pass ``barrier=False`` for such blocks.
A group that fails raises :class:`GroupFailed` when
its block ends, so the flow fails unless the code handles it (``raise_on_failure=False`` to
read ``.state`` instead, e.g. to chain ``group(..., after=[train])``). ``member(name, command)``
adds a shell command as a member; ``member(name, fn=callable)`` a Python callable.
The decorator form ``@group("train", lead="fit")`` on a flow (or a function called in one)
makes each of its runs a group. ``member_tags=False`` leaves member task runs untagged (only
the group's run carries the tags): Prefect makes one API call per tagged task run to check tag
concurrency limits, the main cost of a group of many short members.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from groupplug import authoring
from groupplug.exceptions import GroupplugError, GroupplugValueError, Problem
from groupplug.report import GroupReport
from groupplug.states import GroupState, MemberState

from .live_group import LiveGroup, LiveOptions
from .native_member import current_group


class GroupFailed(GroupplugError):
    """A group ended failed (or upstream failed) and its code did not handle it."""

    def __init__(self, path: str, report: GroupReport):
        self.path, self.report = path, report
        bad = [f"{n} {m.state.value}" + (f" ({m.reason})" if m.reason else "")
               for n, m in report.members.items() if m.state is not MemberState.SUCCEEDED]
        short = path.rpartition(".")[2]
        super().__init__(
            f"group {path} {report.state.value} (lead {report.lead}): {'; '.join(bad)}. Catch "
            f"groupplug.prefect.GroupFailed around the block, or pass "
            f"group({short!r}, raise_on_failure=False) and read its .state")


class group:  # noqa: N801 - used like a function, as prefect.flow is
    """A group of the task runs started in its ``with`` block (see the module docstring)."""

    def __init__(self, name: str, *, lead: str | None = None, barrier: bool = True,
                 barrier_timeout: float | None = None, ignore_nonlead_status: bool = True,
                 setup: Mapping[str, Callable[..., Any]] | None = None,
                 arrive_in_body: Iterable[str] = (), isolate: str | None = None,
                 after: Iterable[group] = (), task_runner: Any = None,
                 channel: str | None = None, raise_on_failure: bool = True,
                 member_tags: bool = True):
        # The core's checks of names and options, with its messages.
        authoring.group(name, lead=lead, barrier=barrier, barrier_timeout=barrier_timeout,
                        ignore_nonlead_status=ignore_nonlead_status)
        if isolate not in (None, "process", "thread"):
            raise GroupplugValueError([Problem(f"group({name!r}).isolate",
                                               f"expected 'process' or 'thread', got {isolate!r}")])
        self.name = name
        self.after = list(after)
        for other in self.after:
            if not isinstance(other, group):
                raise TypeError(f"group({name!r}, after=...) takes groups, got {other!r}")
        self.options = LiveOptions(
            lead=lead, barrier=barrier, barrier_timeout=barrier_timeout,
            ignore_nonlead_status=ignore_nonlead_status, setup=dict(setup or {}),
            arrive_in_body=frozenset([arrive_in_body] if isinstance(arrive_in_body, str)
                                     else arrive_in_body),
            isolate=isolate, channel=channel, member_tags=member_tags)
        self.task_runner, self.raise_on_failure = task_runner, raise_on_failure
        self.path = name
        self.live: LiveGroup | None = None
        self._reports: dict[str, GroupReport] | None = None
        self._children: dict[str, GroupReport] = {}
        self._parent: group | None = None
        self._tokens: Any = None

    # -- the block ---------------------------------------------------------------------------

    def __enter__(self) -> group:
        from prefect.context import FlowRunContext

        from .capture import group_task_runner, install
        from .channel import channel_kind
        from .group_run import GroupRun

        if self.live is not None or self._reports is not None:
            raise RuntimeError(f"group({self.name!r}) was already used; create a new one")
        context = FlowRunContext.get()
        if context is None:
            raise RuntimeError(f"groupplug.prefect.group({self.name!r}) groups task runs of a "
                               "flow: use it inside a @flow")
        self._parent = _blocks.get(id(current_group.get()))
        if self._parent is not None:
            self.path = f"{self._parent.path}.{self.name}"
        install()
        runner = self.task_runner or context.task_runner
        if self.task_runner is not None:
            runner.__enter__()
        self.live = LiveGroup(self.path, self.options, channel_kind(runner, self.options.channel))
        failed = [g.path for g in self.after if g.state not in (GroupState.SUCCEEDED,
                                                                 GroupState.SKIPPED)]
        if self._parent is not None and self._parent.live is not None and \
                self._parent.live.engine.state is GroupState.UPSTREAM_FAILED:
            failed += [g.path for g in self._parent.after]  # a parent that never runs
        if failed:
            self.live._apply(self.live.engine.upstream_failed(f"upstream group {failed[0]} "
                                                              "failed"))
        self.run = GroupRun(self.path, self.name)
        self.run.open(context, group_task_runner(self.live, runner))
        _blocks[id(self.live)] = self
        self._tokens = current_group.set(self.live)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._leave()
        self._finish(exc)
        self._close(exc)

    async def __aenter__(self) -> group:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import asyncio

        self._leave()
        await asyncio.to_thread(self._finish, exc)  # waits for members: not on the loop
        self._close(exc)  # contexts are left where they were entered

    def _leave(self) -> None:
        current_group.reset(self._tokens)
        assert self.live is not None
        if self.options.lead is None and len(self.live.names) == 1:
            self.options.lead = self.live.names[0]
            self.live.report.lead = self.live.names[0]

    def _finish(self, exc: BaseException | None) -> None:
        """Wait for the group's end; keep its report and any problem for :meth:`_close`."""
        assert self.live is not None
        live = self.live
        self._problem: GroupplugValueError | None = None
        try:
            if exc is not None:
                live.abort(f"the group's block raised {type(exc).__name__}: {exc}")
            live.finish()
            if not live.names and exc is None:
                live.report.state = self._parent_state()
        except GroupplugValueError as error:
            self._problem = error
            live.report.state = GroupState.FAILED

    def _close(self, exc: BaseException | None) -> None:
        assert self.live is not None
        report = self.live.report
        try:
            _blocks.pop(id(self.live), None)
            self._publish(report)
        finally:
            self.run.leave()
            self.run.end(report.state in (GroupState.SUCCEEDED, GroupState.SKIPPED),
                         self._message(report), self.live.renames())
            if self.task_runner is not None:
                self.task_runner.__exit__(None, None, None)
        from .registry import record

        record(self.path, report)  # for 'groupplug run FILE.py:FLOW' (one report per run)
        self._reports = {self.path: report, **self._children}
        if self._parent is not None:
            self._parent._children.update(self._reports)
        if self._problem is not None and exc is None:
            raise self._problem
        if exc is None and self.raise_on_failure and report.state not in (
                GroupState.SUCCEEDED, GroupState.SKIPPED):
            raise GroupFailed(self.path, report)

    def _parent_state(self) -> GroupState:
        from groupplug.status import rollup

        direct = [r.state for p, r in self._children.items() if p.count(".") ==
                  self.path.count(".") + 1]
        if not direct:
            raise GroupplugValueError([Problem(
                f"group({self.name!r})", "no task ran in its block",
                "call a @task (or member(...)) inside the block, or nest groups in it")])
        return rollup(direct)

    def _message(self, report: GroupReport) -> str:
        from .rollup import final_message

        return final_message(self.path, report, self._children)

    def _publish(self, report: GroupReport) -> None:
        from .rollup import publish_group

        try:
            publish_group(self.path, report, children=self._children)
        except Exception as exc:  # noqa: BLE001 - a lost artifact must not hide the outcome
            import logging

            logging.getLogger(__name__).warning("group %s: no roll-up artifact: %s",
                                                self.path, exc)

    # -- after the block ---------------------------------------------------------------------

    @property
    def reports(self) -> dict[str, GroupReport]:
        """Reports of this group and the groups nested in it, by dotted path."""
        if self._reports is None:
            raise RuntimeError(f"group({self.name!r}) has no report until its 'with' block ends")
        return self._reports

    @property
    def report(self) -> GroupReport:
        return self.reports[self.path]

    @property
    def state(self) -> GroupState:
        return self.report.state

    # -- decorator form ------------------------------------------------------------------------

    def __call__(self, fn: Any) -> Any:
        """``@group(...)`` on a flow or a function called in one: each call runs as this group."""
        make = functools.partial(_clone, self)
        target = getattr(fn, "fn", fn)  # a prefect Flow keeps its function in .fn

        if _is_async(target):
            @functools.wraps(target)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with make():
                    return await target(*args, **kwargs)
            wrapped: Any = run_async
        else:
            @functools.wraps(target)
            def run(*args: Any, **kwargs: Any) -> Any:
                with make():
                    return target(*args, **kwargs)
            wrapped = run
        if target is not fn:
            fn.fn = wrapped
            return fn
        return wrapped


def _is_async(fn: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(fn)


def _clone(template: group) -> group:
    o = template.options
    return group(template.name, lead=o.lead, barrier=o.barrier,
                 barrier_timeout=o.barrier_timeout,
                 ignore_nonlead_status=o.ignore_nonlead_status, setup=o.setup,
                 arrive_in_body=o.arrive_in_body, isolate=o.isolate, after=template.after,
                 task_runner=template.task_runner, channel=o.channel,
                 raise_on_failure=template.raise_on_failure, member_tags=o.member_tags)


#: Open blocks by their live group's id, to find a nested block's parent.
_blocks: dict[int, group] = {}


def member(name: str, command: str | None = None, *, setup: str | None = None,
           lead: bool = False, fn: Callable[[], Any] | None = None,
           setup_fn: Callable[[], Any] | None = None, retries: int = 0,
           retry_delay: float = 0.0, directives: Mapping[str, Any] | None = None) -> Any:
    """Add a shell ``command`` (or a Python ``fn``) as a member of the enclosing group; it runs
    as a task named ``name`` and returns its future. ``setup``/``setup_fn`` run before the
    barrier; ``lead=True`` makes it the group's lead."""
    from .members import submit_member

    live = current_group.get()
    block = _blocks.get(id(live))
    if block is None:
        raise RuntimeError(f"member({name!r}) adds a member to a group: call it inside "
                           "'with group(...)' in a @flow")
    if (command is None) == (fn is None):
        raise GroupplugValueError([Problem(f"member({name!r})",
                                           "needs exactly one of a command or fn=",
                                           f"member({name!r}, 'python train.py') or "
                                           f"member({name!r}, fn=train)")])
    if lead:
        if block.options.lead not in (None, name):
            raise GroupplugValueError([Problem(
                f"member({name!r}, lead=True)",
                f"group {block.path} already has lead {block.options.lead!r}",
                "mark exactly one member lead")])
        block.options.lead = live.engine.lead = live.report.lead = name
    return submit_member(name, command, fn, setup, setup_fn, block.options, retries,
                         retry_delay, directives, where=f"{block.path}.{name}")
