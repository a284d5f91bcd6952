"""The neutral, frozen spec objects every front door produces and every engine consumes.

A :class:`Workflow` holds :class:`Group` objects (nested through ``children``); a group holds its
member :class:`Task` objects. Nothing here validates: build specs through
:func:`groupplug.loader.load_workflow` (YAML) or :mod:`groupplug.authoring` (Python), which validate
eagerly, or call :func:`groupplug.validation.validate` yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict that cannot change after construction, so specs stay frozen and hashable."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("spec mappings are frozen; build a new spec with dataclasses.replace")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle/copy would refill the dict through __setitem__: rebuild it from its items
        # instead (a member's task goes to a Dask worker or a spawned process that way).
        return (type(self), (dict(self),))


def freeze(value: Any) -> Any:
    """Deep-freeze mappings and lists into FrozenDict and tuples."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Task:
    """A group member.

    ``command``/``setup`` are shell strings run by ``sh -c`` (the YAML form); ``fn``/``setup_fn``
    are Python callables (the Python API); ``native`` is an engine's own task object (an Airflow
    operator, a Prefect task); engines run whichever is set. ``setup`` runs before the
    barrier. ``inputs`` names tasks this one needs; it orders their groups. ``directives`` are the
    task's own defaults (normalised by :mod:`groupplug.directives`).
    """

    name: str
    command: str | None = None
    setup: str | None = None
    lead: bool = False
    inputs: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 0.0
    directives: FrozenDict = field(default_factory=FrozenDict)
    fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    setup_fn: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    #: The engine's own task object this member is (an Airflow operator, a Prefect task call);
    #: set by an adapter's authoring API, never by YAML. An engine runs it instead of a command.
    native: Any = field(default=None, compare=False, repr=False)
    #: OSMO's argument-vector form: ``command: [prog, ...]`` (``argv``) plus ``args``, run with
    #: no shell. ``command`` (a shell string) and ``argv`` are never both set.
    argv: tuple[str, ...] | None = None
    args: tuple[str, ...] = ()
    #: Variables added to the member's environment (OSMO ``environment:``).
    environment: FrozenDict = field(default_factory=FrozenDict)
    #: Inline files written before the member starts, relative to its working directory.
    files: tuple[TaskFile, ...] = ()
    #: OSMO ``outputs:`` entries, kept as written (groupplug gives each task ``{{output}}``).
    outputs: tuple[FrozenDict, ...] = ()
    #: OSMO ``image:``: recorded; an engine that runs commands on the host warns it was not used.
    image: str | None = None
    #: The name of a workflow-level ``resources:`` entry (OSMO ``resource:``), already applied to
    #: ``directives`` by the loader; kept so the file dumps back as written.
    resource: str | None = None


@dataclass(frozen=True)
class TaskFile:
    """An inline file (OSMO ``files: [{path, contents}]``) written before its task starts."""

    path: str
    contents: str


@dataclass(frozen=True)
class Group:
    """A named group of member tasks and/or nested child groups.

    ``directives`` maps a member's name to the directives that replace that member's own inside
    this group. ``upstream`` names groups (or tasks outside groups) this group waits for.
    ``implicit`` marks the singleton group a task outside any group gets.
    """

    name: str
    tasks: tuple[Task, ...] = ()
    children: tuple[Group, ...] = ()
    barrier: bool = True
    barrier_timeout: float | None = None
    ignore_nonlead_status: bool = True
    directives: FrozenDict = field(default_factory=FrozenDict)
    upstream: tuple[str, ...] = ()
    tooltip: str | None = None
    implicit: bool = False

    @property
    def lead(self) -> Task | None:
        """The one ``lead=True`` task, or the only task; None for a parent-only group."""
        if len(self.tasks) == 1:
            return self.tasks[0]
        leads = [t for t in self.tasks if t.lead]
        return leads[0] if len(leads) == 1 else None

    @property
    def has_barrier(self) -> bool:
        """Whether members synchronise: only for barrier groups of more than one member."""
        return self.barrier and len(self.tasks) > 1

    def member_directives(self, task: Task) -> FrozenDict:
        """The directives ``task`` runs with inside this group (the group's replace the task's)."""
        override = self.directives.get(task.name)
        if override is None:
            return task.directives
        merged = dict(task.directives)
        merged.update(override)
        return FrozenDict(merged)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, Group]]:
        """Yield ``(dotted path, group)`` for this group and every descendant, parents first."""
        path = f"{prefix}.{self.name}" if prefix else self.name
        yield path, self
        for child in self.children:
            yield from child.walk(path)


@dataclass(frozen=True)
class Workflow:
    """A named workflow: top-level groups (singleton groups for tasks outside any group)."""

    name: str
    groups: tuple[Group, ...] = ()
    #: OSMO's workflow-level ``resources:`` (named specs), as written; a task's ``resource:``
    #: (or the ``default`` spec) is already applied to its directives by the loader.
    resources: FrozenDict = field(default_factory=FrozenDict)
    #: The file wrote task inputs in OSMO's form (``inputs: [{task: NAME}]``): the dump does too.
    osmo_inputs: bool = field(default=False, compare=False)

    def walk(self) -> Iterator[tuple[str, Group]]:
        """Yield ``(dotted path, group)`` for every group, parents before children."""
        for group in self.groups:
            yield from group.walk()

    def group_paths(self) -> dict[str, Group]:
        return dict(self.walk())

    def find_group(self, name: str) -> tuple[str, Group]:
        """The ``(path, group)`` whose name or dotted path is ``name``; KeyError if none."""
        for path, group in self.walk():
            if name in (path, group.name):
                return path, group
        raise KeyError(name)
