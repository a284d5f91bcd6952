"""The execution order of a workflow's groups, shared by every engine.

Only groups that hold tasks run; a parent-only group is a folder whose state is rolled up from
its children. A group waits for the groups named in its own and its ancestors' ``upstream``
(a parent name stands for every group below it) and for the groups that run the tasks its members
take as ``inputs``. Workflows are assumed valid (validation rejects cycles and unknown names).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .spec import Group, Workflow


@dataclass(frozen=True)
class PlannedGroup:
    path: str  # dotted path, e.g. "pipeline.training"
    group: Group
    upstream: tuple[str, ...]  # paths of runnable groups this one waits for
    parent: str | None  # path of the enclosing group, if any


def _runnable_below(paths: dict[str, Group], path: str) -> list[str]:
    prefix = path + "."
    return [p for p, g in paths.items() if g.tasks and (p == path or p.startswith(prefix))]


def plan(workflow: Workflow) -> list[PlannedGroup]:
    """Runnable groups in a dependency-respecting order (stable: declaration order otherwise)."""
    paths = workflow.group_paths()
    by_name = {g.name: p for p, g in paths.items()}
    runs_task: dict[str, list[str]] = {}
    for p, g in paths.items():
        for t in g.tasks:
            runs_task.setdefault(t.name, []).append(p)

    planned: dict[str, PlannedGroup] = {}
    for path, group in paths.items():
        if not group.tasks:
            continue
        deps: list[str] = []
        ancestry = path.split(".")
        for depth in range(1, len(ancestry) + 1):
            ancestor = paths[".".join(ancestry[:depth])]
            for name in ancestor.upstream:
                target = by_name.get(name) or name
                deps.extend(_runnable_below(paths, target))
        for t in group.tasks:
            for name in t.inputs:
                deps.extend(runs_task.get(name, ()))
        upstream = tuple(dict.fromkeys(d for d in deps if d != path))
        parent = ".".join(ancestry[:-1]) or None
        planned[path] = PlannedGroup(path, group, upstream, parent)
    return _toposort(planned)


def _toposort(planned: dict[str, PlannedGroup]) -> list[PlannedGroup]:
    order: list[PlannedGroup] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(path: str) -> None:
        if path in done:
            return
        if path in visiting:
            raise ValueError(f"cycle through group {path!r}; validate the workflow first")
        visiting.add(path)
        for dep in planned[path].upstream:
            if dep in planned:
                visit(dep)
        visiting.discard(path)
        done.add(path)
        order.append(planned[path])

    for path in planned:
        visit(path)
    return order


def selected_paths(workflow: Workflow, names: Iterable[str]) -> set[str]:
    """Paths of the groups named (by name or dotted path) and everything below them.

    An empty selection selects every group. Unknown names raise KeyError.
    """
    names = list(names)
    paths = workflow.group_paths()
    if not names:
        return set(paths)
    chosen: set[str] = set()
    for name in names:
        path, _ = workflow.find_group(name)
        chosen.update(p for p in paths if p == path or p.startswith(path + "."))
    return chosen
