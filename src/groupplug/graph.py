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


def dependencies(workflow: Workflow) -> dict[str, tuple[str, ...]]:
    """For each runnable group's path, the paths of the runnable groups it waits for."""
    paths = workflow.group_paths()
    by_name = {g.name: p for p, g in paths.items()}
    runs_task: dict[str, list[str]] = {}
    for p, g in paths.items():
        for t in g.tasks:
            runs_task.setdefault(t.name, []).append(p)

    result: dict[str, tuple[str, ...]] = {}
    for path, group in paths.items():
        if not group.tasks:
            continue
        deps: list[str] = []
        ancestry = path.split(".")
        for depth in range(1, len(ancestry) + 1):
            ancestor = paths[".".join(ancestry[:depth])]
            for name in ancestor.upstream:
                deps.extend(_runnable_below(paths, by_name.get(name) or name))
        for t in group.tasks:
            for name in t.inputs:
                deps.extend(runs_task.get(name, ()))
        result[path] = tuple(dict.fromkeys(d for d in deps if d != path))
    return result


def plan(workflow: Workflow) -> list[PlannedGroup]:
    """Runnable groups in a dependency-respecting order (stable: declaration order otherwise)."""
    paths = workflow.group_paths()
    planned = {
        path: PlannedGroup(path, paths[path], upstream, ".".join(path.split(".")[:-1]) or None)
        for path, upstream in dependencies(workflow).items()
    }
    return _toposort(planned)


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """One cycle in ``edges`` (node -> nodes it depends on) as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in edges:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            deps = edges.get(node, ())
            if i < len(deps):
                stack.append((node, i + 1))
                dep = deps[i]
                if state.get(dep) == 1:
                    return path[path.index(dep):] + [dep]
                if not state.get(dep):
                    stack.append((dep, 0))
            else:
                state[node] = 2
                path.pop()
    return None


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
