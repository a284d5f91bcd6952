"""Python front door: ``workflow``/``group``/``task``, nested like ``flyte.group``.

::

    from groupplug import group, task, workflow

    with workflow("train-job") as wf:
        with group("train", lead="master", barrier_timeout=600):
            task("master", command="python train.py --rank 0", setup="./pull.sh")
            task("worker-1", command="python train.py --rank 1")
    wf.spec  # the same frozen, validated Workflow the YAML loader gives

    @group("evaluate", upstream=["train"])   # decorator form: calling it declares the group
    def evaluate():
        task("score", command="python score.py")

Arguments are checked when they are given (a bad ``barrier_timeout`` fails at ``group(...)``);
rules that need the whole workflow (leads, names, edges) run when the ``workflow`` block ends and
raise :class:`GroupplugValueError` with every problem. The nesting stack lives in a
:class:`contextvars.ContextVar`, so threads and asyncio tasks each see their own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, TypeVar

from .directives import directive_types, normalise
from .exceptions import GroupplugValueError, Problem
from .names import name_problem
from .spec import Group, Task, Workflow, freeze

F = TypeVar("F", bound=Callable[..., Any])

_stack: ContextVar[tuple[Any, ...]] = ContextVar("groupplug_authoring_stack", default=())


def authoring_stack() -> tuple[Any, ...]:
    """The open ``workflow``/``group`` blocks, outermost first (adapters build on this)."""
    return _stack.get()


def _check_name(kind: str, name: Any) -> None:
    if (why := name_problem(name)) is not None:
        raise GroupplugValueError([Problem(f"{kind}(name={name!r})", why)])


def _directives(value: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GroupplugValueError([Problem(where, "expected a mapping of directive: value",
                                           "pass directives={'ngpu': 1}")])
    good, _ = normalise(value, directive_types())
    return {k: good.get(k, v) for k, v in value.items()}  # bad values: reported at validation


class _Block:
    """Shared lifecycle of a ``with`` block that collects tasks and groups."""

    kind = "block"

    def __init__(self, name: str):
        _check_name(self.kind, name)
        self.name = name
        self.tasks: list[Task] = []
        self.groups: list[Group] = []
        self._state = "new"  # new -> open -> closed
        self._token: Any = None

    def __enter__(self) -> Any:
        if self._state != "new":
            raise RuntimeError(f"{self.kind}({self.name!r}) was already used; create a new one")
        self._state = "open"
        self._token = _stack.set((*_stack.get(), self))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _stack.reset(self._token)
        self._state = "closed"
        if exc_type is None:
            self._close()

    def _close(self) -> None:
        raise NotImplementedError

    def _require_closed(self, what: str) -> None:
        if self._state != "closed":
            raise RuntimeError(
                f"{self.kind}({self.name!r}).{what} is only available after its 'with' block ends"
            )

    def find_task(self, name: str) -> Task | None:
        for t in self.tasks:
            if t.name == name:
                return t
        for g in self.groups:
            for _, sub in g.walk():
                for t in sub.tasks:
                    if t.name == name:
                        return replace(t, lead=False)
        return None


class workflow(_Block):  # noqa: N801 - used like a function, as flyte.group and prefect.flow are
    """Collects groups and tasks; ``.spec`` is the validated :class:`Workflow` after the block."""

    kind = "workflow"

    def __init__(self, name: str):
        super().__init__(name)
        self._spec: Workflow | None = None

    def _close(self) -> None:
        from .validation import check

        groups = list(self.groups)
        grouped = {t.name for g in groups for _, sub in g.walk() for t in sub.tasks}
        groups += [Group(name=t.name, tasks=(t,), barrier=False, implicit=True)
                   for t in self.tasks if t.name not in grouped]
        self._spec = check(Workflow(name=self.name, groups=tuple(groups)))

    @property
    def spec(self) -> Workflow:
        self._require_closed("spec")
        assert self._spec is not None
        return self._spec


class group(_Block):  # noqa: N801
    """A named group inside a ``workflow`` (or another group); also a decorator.

    ``lead`` names the lead member (or mark the task ``lead=True``); a one-task group's task is
    its lead. ``directives`` maps a member's name to directives that replace its own in this group.
    """

    kind = "group"

    def __init__(
        self,
        name: str,
        *,
        lead: str | None = None,
        barrier: bool = True,
        barrier_timeout: float | None = None,
        ignore_nonlead_status: bool = True,
        directives: Mapping[str, Mapping[str, Any]] | None = None,
        upstream: Iterable[str] = (),
        tooltip: str | None = None,
    ):
        super().__init__(name)
        where = f"group({name!r})"
        if not isinstance(barrier, bool):
            raise GroupplugValueError([Problem(f"{where}.barrier", f"expected True or False, got "
                                               f"{barrier!r}")])
        if barrier_timeout is not None and (
            isinstance(barrier_timeout, bool) or not isinstance(barrier_timeout, (int, float))
            or barrier_timeout <= 0
        ):
            raise GroupplugValueError([Problem(f"{where}.barrier_timeout", f"must be > 0 seconds,"
                                               f" got {barrier_timeout!r}",
                                               "pass None to wait without a limit")])
        if isinstance(upstream, str):
            upstream = [upstream]
        self.options = dict(
            lead=lead, barrier=barrier, barrier_timeout=barrier_timeout,
            ignore_nonlead_status=ignore_nonlead_status, upstream=tuple(upstream),
            tooltip=tooltip,
            directives={m: _directives(d, f"{where}.directives[{m!r}]")
                        for m, d in (directives or {}).items()},
        )
        self._spec: Group | None = None

    def __enter__(self) -> group:
        if not _stack.get():
            raise RuntimeError(
                f"group({self.name!r}) used outside a workflow; wrap it in 'with workflow(...)'"
            )
        return super().__enter__()

    #: What creates a member inside the block, in the words of this front door's users.
    member_api = "task(...)"

    def _close(self) -> None:
        lead = self.options["lead"]
        tasks = self.tasks
        where = f"group({self.name!r})"
        if not tasks and not self.groups:
            raise GroupplugValueError([Problem(
                where, "has no members", f"call {self.member_api} inside its 'with' block, or "
                "nest groups in it")])
        names = ", ".join(t.name for t in tasks)
        if lead is not None:
            if lead not in {t.name for t in tasks}:
                raise GroupplugValueError([Problem(
                    f"{where}.lead", f"{lead!r} is not a member of this group",
                    f"name one of: {names}" if tasks else "this group holds only nested groups: "
                    "drop lead=, or name a task created inside its own 'with' block")])
            tasks = [replace(t, lead=True) if t.name == lead else t for t in tasks]
        elif len(tasks) > 1 and sum(t.lead for t in tasks) != 1:
            marked = [t.name for t in tasks if t.lead]
            what = f"{len(marked)} leads ({', '.join(marked)})" if marked else "no lead"
            raise GroupplugValueError([Problem(
                where, f"has {len(tasks)} members and {what}",
                f"pass lead=<one of: {names}> to {where}")])
        barrier_timeout = self.options["barrier_timeout"]
        self._spec = Group(
            name=self.name,
            tasks=tuple(tasks),
            children=tuple(self.groups),
            barrier=self.options["barrier"],
            barrier_timeout=float(barrier_timeout) if barrier_timeout is not None else None,
            ignore_nonlead_status=self.options["ignore_nonlead_status"],
            directives=freeze(self.options["directives"]),
            upstream=self.options["upstream"],
            tooltip=self.options["tooltip"],
        )
        _stack.get()[-1].groups.append(self._spec)

    @property
    def spec(self) -> Group:
        self._require_closed("spec")
        assert self._spec is not None
        return self._spec

    def __call__(self, fn: F) -> F:
        """Decorator form: each call of ``fn`` declares this group with the tasks ``fn`` adds."""
        options = {k: v for k, v in self.options.items() if k != "directives"}
        directives = self.options["directives"]

        @functools.wraps(fn)
        def declare(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.name, directives=directives, **options):
                return fn(*args, **kwargs)

        return declare  # type: ignore[return-value]


def task(
    name: str,
    command: str | None = None,
    *,
    setup: str | None = None,
    lead: bool = False,
    inputs: Iterable[str] = (),
    retries: int = 0,
    retry_delay: float = 0.0,
    directives: Mapping[str, Any] | None = None,
    fn: Callable[..., Any] | None = None,
    setup_fn: Callable[..., Any] | None = None,
) -> Task:
    """Declare a task in the innermost open group (or as a singleton group of the workflow).

    ``task("simulate")`` with nothing to run refers to a task already declared in the workflow,
    so one task can sit in several groups (signac).
    """
    stack = _stack.get()
    if not stack:
        raise RuntimeError(
            f"task({name!r}) called outside a group or workflow; wrap it in 'with workflow(...)'"
        )
    _check_name("task", name)
    for arg, value, use in (("command", command, "fn"), ("setup", setup, "setup_fn")):
        if value is not None and not isinstance(value, str):
            fix = (f"pass {use}={getattr(value, '__name__', 'the_callable')} to run Python"
                   if callable(value) else "pass the command as one string, run by sh -c")
            raise GroupplugValueError([Problem(f"task({name!r}).{arg}",
                                               f"is a shell command string, got {value!r}", fix)])
    if command is None and fn is None and setup is None and setup_fn is None:
        existing = next((b.find_task(name) for b in stack if b.find_task(name)), None)
        if existing is not None:
            made = replace(existing, lead=lead)
            stack[-1].tasks.append(made)
            return made
    if isinstance(inputs, str):
        inputs = [inputs]
    made = Task(
        name=name, command=command, setup=setup, lead=lead, inputs=tuple(inputs),
        retries=retries, retry_delay=float(retry_delay),
        directives=freeze(_directives(directives, f"task({name!r}).directives")),
        fn=fn, setup_fn=setup_fn,
    )
    stack[-1].tasks.append(made)
    return made
