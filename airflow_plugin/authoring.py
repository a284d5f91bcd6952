"""Grouped DAGs written as Airflow users write them: operators inside ``with group(...)``.

::

    from airflow.sdk import DAG, task
    from airflow.providers.standard.operators.bash import BashOperator
    from groupplug.airflow import group

    @task
    def fit(): ...

    @task
    def shard(i): ...

    with DAG("train_job", schedule=None):
        with group("train", lead="fit", barrier_timeout=600,
                   setup={"fit": pull_image}) as train:     # setup: a callable or shell string
            fit()                                            # @task: member "fit" (the lead)
            shard.expand(i=[0, 1, 2])                        # members shard[0], shard[1], ...
            BashOperator(task_id="monitor", bash_command="./watch.sh")
        with group("evaluate") as evaluate:
            BashOperator(task_id="score", bash_command="python score.py")
        train >> evaluate

A ``group`` block opens a real Airflow ``TaskGroup``, so every operator created inside lands in
it as usual (``@task`` calls, ``PythonOperator``, ``BashOperator``, any ``BaseOperator``
subclass, deferrable operators, ``.expand()`` mapped tasks); when the block ends each becomes a
member, named by its task id inside the group (a ``@task``'s function name). ``lead`` names the
lead. A mapped task's instances are members ``name[0]``, ``name[1]``, ... at run time; it cannot be
the lead. Nested groups nest. The lead finishing stops every other member (DESIGN section 3):
make sure the lead is the task whose end means the group's work is done.

A member's **setup** (before the barrier) is given per member on the group:
``setup={"fit": callable_or_shell_command_or_operator}``. A callable runs in a setup task
(``fit__setup``); a shell string runs with ``sh -c``; an operator (made before the block) is
the setup's first step, not a member (the arrival is recorded after it succeeds; unlike a
callable or command, the group does not stop it early).

``member(name, bash_command, setup=...)`` is a shell member: one more operator
(:class:`~groupplug.airflow.operators.ShellOperator`) made a member like any other.

Errors are DAG import errors naming the group, the task and the fix: an operator created inside
a block but placed outside its TaskGroup, a lead that is not a member or is mapped, a Python
callable where a shell command belongs, a group with nothing in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from groupplug import authoring
from groupplug.exceptions import GroupplugValueError, Problem
from groupplug.spec import Task, freeze

from ._compat import current_dag, operator_retries

SPEC_MARK = "_groupplug_spec"  # what member() said about its operator (setup, lead, ...)
SETUP_MARK = "_groupplug_setup_op"  # on a member: the operator that is its setup's first step


class group(authoring.group):  # noqa: N801 - used like a function, as TaskGroup's decorator is
    """A groupplug group: an Airflow ``TaskGroup`` whose operators are its members.

    ``setup`` maps a member's name to its setup (a callable, a shell command or an operator made
    in the block); ``gang=True`` makes members rendezvous inside running tasks instead of a
    barrier (see :mod:`groupplug.airflow.barrier`).
    """

    def __init__(self, name: str, *, gang: bool = False,
                 setup: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(name, **kwargs)
        self.gang = gang
        self.setup = dict(setup or {})
        self._root: group | None = None
        self._dag: Any = None
        self._before: set[str] = set()
        self.task_group: Any = None
        self.path = name
        self.rendered: dict[str, Any] = {}
        self._task_groups: dict[str, Any] = {}  # on the outermost group: path -> TaskGroup
        self._earlier: dict[str, Any] = {}

    # ------------------------------------------------------------------------------ blocks
    def __enter__(self) -> group:
        from airflow.sdk import TaskGroup
        from airflow.sdk.definitions._internal.contextmanager import TaskGroupContext

        stack = authoring.authoring_stack()
        if not stack:
            self._dag = current_dag()
            if self._dag is None:
                raise RuntimeError(f"groupplug.airflow.group({self.name!r}) must be used inside "
                                   "'with DAG(...)' or an @dag function")
            self._workflow = authoring.workflow(self._dag.dag_id.replace(".", "_"))
            self._workflow.__enter__()
            self._workflow.gang = set()  # type: ignore[attr-defined]
            # Earlier top-level groups of this DAG join the spec (so upstream= may name them
            # and names stay unique across the DAG); only this block's groups are rendered.
            self._earlier = _dag_groups(self._dag)
            self._workflow.groups.extend(g for g, _ in self._earlier.values())
            self._before = set(self._dag.task_dict)
            self._root = self
        else:
            outer = stack[-1]
            if not isinstance(outer, group):
                raise RuntimeError(f"group({self.name!r}) is inside a core groupplug block; "
                                   "use groupplug.airflow.group for every level")
            self._root, self._dag = outer._root, outer._dag
            self.path = f"{outer.path}.{self.name}"
        current = TaskGroupContext.get_current(self._dag)
        expected = stack[-1].task_group if stack else None
        if current is not None and current.group_id is not None and current is not expected:
            raise GroupplugValueError([Problem(
                f"group({self.name!r})", f"is inside the plain TaskGroup {current.group_id!r}",
                "make the outer block a group(...) too, or move this group out of it")])
        self.task_group = TaskGroup(group_id=self.name, dag=self._dag)
        self.task_group.__enter__()
        assert self._root is not None
        self._root._task_groups[self.path] = self.task_group
        return super().__enter__()  # type: ignore[return-value]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # Every block is closed whatever fails, so a DAG import error never leaves a group or
        # a TaskGroup open for the next DAG in the same process.
        try:
            self.task_group.__exit__(exc_type, exc, tb)
            if exc_type is None:
                try:
                    self._collect()
                except BaseException as error:
                    super().__exit__(type(error), error, error.__traceback__)
                    raise
            super().__exit__(exc_type, exc, tb)
        except BaseException as error:
            if self._root is self:
                self._workflow.__exit__(type(error), error, error.__traceback__)
            raise
        if self._root is not self:
            return
        self._workflow.__exit__(exc_type, exc, tb)
        if exc_type is None:
            from .render import render_into

            self._check_strays()
            gang = self._workflow.gang  # type: ignore[attr-defined]
            spec = self._workflow.spec
            mine = [g.name for g in spec.groups if g.name not in self._earlier]
            self.rendered = render_into(
                self._dag, spec, gang=gang, existing=self._task_groups, selected=mine,
                earlier={p: r for _, done in self._earlier.values() for p, r in done.items()})
            for group_spec in spec.groups:
                if group_spec.name in mine:
                    self._earlier[group_spec.name] = (group_spec, {
                        p: r for p, r in self.rendered.items()
                        if p == group_spec.name or p.startswith(group_spec.name + ".")})

    def _close(self) -> None:
        if not self.tasks and not self.groups:
            raise GroupplugValueError([Problem(
                f"group({self.name!r})", "has no tasks",
                "create operators or call @task functions inside its 'with' block "
                "(or member(name, bash_command) for a shell command)")])
        super()._close()
        if self.gang:
            authoring.authoring_stack()[0].gang.add(self.path)

    # ------------------------------------------------------------------------------ members
    def _collect(self) -> None:
        """Every operator the block put in this TaskGroup becomes a member (or a setup)."""
        from airflow.sdk import TaskGroup

        prefix = self.task_group.group_id + "."
        nested = {id(tg) for tg in self._root._task_groups.values()} if self._root else set()
        setup_ops = {id(v): k for k, v in self.setup.items() if _is_operator(v)}
        ops: dict[str, Any] = {}
        for node_id, node in self.task_group.children.items():
            if isinstance(node, TaskGroup):
                if id(node) not in nested:
                    raise GroupplugValueError([Problem(
                        f"group({self.name!r})", f"holds the plain TaskGroup {node_id!r}: its "
                        "tasks would be in no group", "write it as a nested group(...)")])
                continue
            if id(node) in setup_ops:
                continue
            ops[node_id[len(prefix):] if node_id.startswith(prefix) else node_id] = node
        unknown = [m for m in self.setup if m not in ops]
        if unknown:
            raise GroupplugValueError([Problem(
                f"group({self.name!r}).setup", f"names {', '.join(map(repr, unknown))}, not a "
                "member of this group", f"name one of: {', '.join(ops) or '(none)'}")])
        ids = {op.task_id: name for name, op in ops.items()}
        for name, op in ops.items():
            self.tasks.append(self._member_task(name, op, ids))

    def _member_task(self, name: str, op: Any, ids: Mapping[str, str]) -> Task:
        from .operators import ShellOperator

        spec: dict[str, Any] = dict(getattr(op, SPEC_MARK, None) or {})
        if getattr(op, "start_from_trigger", False):
            raise GroupplugValueError([Problem(
                f"group({self.name!r}) task {name!r}", "starts in the triggerer "
                "(start_from_trigger=True), where no worker can stop it with its group",
                "create it with start_from_trigger=False")])
        setup = self.setup.get(name, spec.get("setup"))
        if _is_operator(setup):
            object.__setattr__(op, SETUP_MARK, setup)  # the setup's first step, at render
            setup = None
        setup = getattr(setup, "function", setup)  # a @task function: run its plain function
        if setup is not None and not isinstance(setup, str) and not callable(setup):
            raise GroupplugValueError([Problem(
                f"group({self.name!r}).setup[{name!r}]", f"got {type(setup).__name__}",
                "pass a Python callable, a shell command string or an operator")])
        inputs = [ids[u] for u in sorted(op.upstream_task_ids) if u in ids]
        inputs += [i for i in spec.get("inputs", ()) if i not in inputs]
        where = f"group({self.name!r}) member({name!r}).directives"
        return Task(
            name=name, native=op, lead=bool(spec.get("lead")), inputs=tuple(inputs),
            command=getattr(op, "command", None) if isinstance(op, ShellOperator) else None,
            setup=setup if isinstance(setup, str) else None,
            setup_fn=setup if callable(setup) else None, retries=int(operator_retries(op)),
            directives=freeze(authoring._directives(spec.get("directives"), where)))

    def _check_strays(self) -> None:
        """Nothing created inside the blocks may sit outside every group's TaskGroup."""
        made = set(self._dag.task_dict) - self._before
        inside = {tid for tg in self._task_groups.values() for tid in tg.children}
        strays = sorted(made - inside)
        if strays:
            raise GroupplugValueError([Problem(
                f"group({self.name!r})", f"tasks {', '.join(map(repr, strays))} were created "
                "inside its 'with' block but placed in no group (task_group= or dag= pointing "
                "elsewhere)", "create them inside the block without task_group=, or create "
                "them outside the block")])

    # ------------------------------------------------------------------------------ edges
    @property
    def gates(self) -> list[Any]:
        """The exit gates of this group and every group below it."""
        return [r.gate for r in self._rendered_here().values()]

    @property
    def roots(self) -> list[Any]:
        return [t for r in self._rendered_here().values() for t in r.roots]

    def _rendered_here(self) -> dict[str, Any]:
        rendered = self._root.rendered if self._root else {}
        if not rendered:
            raise RuntimeError(f"group({self.name!r}) has no tasks until its outermost 'with' "
                               "block ends")
        return {p: r for p, r in rendered.items()
                if p == self.path or p.startswith(self.path + ".")}

    @property
    def leaves(self) -> list[Any]:
        """What runs last: the exit gates (``task << group`` waits for the group's state)."""
        return self.gates

    def update_relative(self, other: Any, upstream: bool = True, edge_modifier: Any = None
                        ) -> None:
        """Airflow's ``task >> group`` calls this before wiring to :attr:`roots`: no-op."""

    def __rshift__(self, other: Any) -> Any:
        targets = other.roots if isinstance(other, group) else other
        for gate in self.gates:
            gate >> targets
        return other

    def __rrshift__(self, other: Any) -> group:
        for task in other if isinstance(other, list) else [other]:
            task >> self.roots
        return self


def _dag_groups(dag: Any) -> dict[str, Any]:
    """The groupplug groups already rendered into ``dag``: name -> (spec, rendered by path)."""
    found = getattr(dag, "_groupplug_groups", None)
    if found is None:
        found = {}
        dag._groupplug_groups = found
    return found


def _is_operator(value: Any) -> bool:
    from airflow.sdk.definitions._internal.abstractoperator import AbstractOperator

    return isinstance(value, AbstractOperator)


def member(
    name: str,
    bash_command: str | None = None,
    *,
    setup: str | Callable[[], Any] | None = None,
    lead: bool = False,
    inputs: Iterable[str] = (),
    retries: int = 0,
    retry_delay: float = 0.0,
    directives: Mapping[str, Any] | None = None,
) -> Any:
    """A shell member of the enclosing :class:`group`: a ``ShellOperator`` running
    ``bash_command``. ``member("simulate")`` with no command runs a shell member declared in an
    earlier group again in this one (signac: one task in several groups).

    For Python work write ``@task`` functions or a ``PythonOperator`` inside the group instead.
    """
    from .operators import ShellOperator

    stack = authoring.authoring_stack()
    if not stack or not isinstance(stack[-1], group):
        raise RuntimeError(f"member({name!r}) must be called inside 'with group(...)'")
    where = f"group({stack[-1].name!r}) member({name!r})"
    if bash_command is not None and not isinstance(bash_command, str):
        raise GroupplugValueError([Problem(
            where, f"bash_command is a {type(bash_command).__name__}, not a shell command",
            "for Python work write a @task function (or a PythonOperator) inside the group, "
            "and call it there; member() runs shell commands only")])
    if bash_command is None:
        earlier = next((b.find_task(name) for b in stack if b.find_task(name)), None)
        if earlier is None or earlier.command is None:
            raise GroupplugValueError([Problem(where, "has no shell command",
                                               "pass bash_command='...'")])
        # The same task again (signac): its own fields, so both groups hold one definition.
        bash_command, setup = earlier.command, setup or earlier.setup
        directives = directives if directives is not None else dict(earlier.directives)
        retries, retry_delay = retries or earlier.retries, retry_delay or earlier.retry_delay
        inputs = inputs or earlier.inputs
    op = ShellOperator(task_id=name, command=bash_command, retries=retries,
                       retry_delay=timedelta(seconds=retry_delay))
    setattr(op, SPEC_MARK, {"setup": setup, "lead": lead, "directives": directives,
                            "inputs": list(inputs)})
    for needed in inputs:
        prior = stack[-1].task_group.children.get(f"{stack[-1].task_group.group_id}.{needed}")
        if prior is not None:
            prior >> op
    return op
