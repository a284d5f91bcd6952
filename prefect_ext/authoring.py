"""Groups inside a Prefect ``@flow``: ``with group(...)`` runs the group as a subflow.

::

    from prefect import flow
    from groupplug.prefect import group, member

    @flow
    def training():
        with group("train", lead="master", barrier_timeout=600) as train:
            member("master", "python train.py --rank 0", setup="./pull.sh")
            member("worker-1", "python train.py --rank 1", setup="./pull.sh")
        with group("evaluate", after=[train]):  # upstream_failed, never run, if train failed
            member("score", "python score.py")
        return train.state

A ``with`` block cannot itself be a subflow, so the block collects members (validated like the
YAML front door) and, when it ends, runs the group as a subflow named after it; nested groups
run as nested subflows. ``.report``/``.state`` are available after the block (RuntimeError
before). The decorator form ``@group("train", lead=...)`` declares the group each call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from groupplug import authoring
from groupplug.report import GroupReport
from groupplug.states import GroupState, MemberState


class group(authoring.group):  # noqa: N801 - used like a function, as prefect.flow is
    """A groupplug group run as a Prefect subflow when its ``with`` block ends."""

    def __init__(self, name: str, *, after: Iterable[group] = (), task_runner: Any = None,
                 channel: str | None = None, **kwargs: Any):
        super().__init__(name, **kwargs)
        self.after = list(after)
        for other in self.after:
            if not isinstance(other, group):
                raise TypeError(f"group({name!r}, after=...) takes groups, got {other!r}")
        self.run_options = {"task_runner": task_runner, "channel": channel}
        self._workflow: authoring.workflow | None = None
        self._report: Any = None

    def __enter__(self) -> group:
        if not authoring.authoring_stack():
            from prefect.context import FlowRunContext

            context = FlowRunContext.get()
            if context is None:
                raise RuntimeError(f"groupplug.prefect.group({self.name!r}) runs as a subflow: "
                                   "use it inside a @flow")
            self._workflow = authoring.workflow(self.name)
            self._workflow.__enter__()
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._workflow is None:
            return
        self._workflow.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self._run(self._workflow.spec)

    def _run(self, spec: Any) -> None:
        from .group_flow import RunOptions, run_groups

        failed = [g.name for g in self.after if g.state not in (GroupState.SUCCEEDED,
                                                                 GroupState.SKIPPED)]
        if failed:
            self._report = {self.name: GroupReport(
                GroupState.UPSTREAM_FAILED, self.spec.lead.name if self.spec.lead else None,
                {t.name: _upstream_failed(failed[0]) for t in self.spec.tasks})}
            return
        task_runner = self.run_options["task_runner"]
        factory = (lambda members: task_runner) if task_runner is not None else None
        report = run_groups(spec, RunOptions(task_runner=factory,
                                             channel=self.run_options["channel"]))
        self._report = report.groups

    @property
    def reports(self) -> dict[str, GroupReport]:
        """Reports of this group and the groups nested in it, by dotted path."""
        if self._report is None:
            raise RuntimeError(f"group({self.name!r}) has no report until its 'with' block ends")
        return self._report

    @property
    def report(self) -> GroupReport:
        return self.reports[self.name]

    @property
    def state(self) -> GroupState:
        return self.report.state


def _upstream_failed(upstream: str) -> Any:
    from groupplug.report import MemberReport

    return MemberReport(MemberState.UPSTREAM_FAILED, f"upstream group {upstream} failed")


#: Declare a member of the enclosing :class:`group`: ``member(name, command, setup=..., lead=...,
#: inputs=..., retries=..., retry_delay=..., directives=...)``; ``member("simulate")`` with no
#: command puts a task declared earlier in this group too. Prefect members run shell commands.
member = authoring.task
