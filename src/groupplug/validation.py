"""Every rule of DESIGN section 2, reported all at once, each problem with its path and a fix.

Paths are structural: ``workflow.groups[0].groups[1].tasks[2].lead``; a task outside any group
(a singleton group) is ``workflow.tasks[k]``, the k-th such task. The YAML loader turns paths into
line numbers; the Python API shows them as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .directives import Normaliser, directive_types, normalise
from .exceptions import GroupplugValueError, Problem
from .graph import dependencies, find_cycle
from .names import name_key, name_problem
from .spec import Group, Task, Workflow


@dataclass(frozen=True)
class _Located:
    path: str  # the group's own field path, e.g. workflow.groups[0].groups[1]
    dotted: str  # the group's dotted name path, e.g. pipeline.train
    group: Group
    ancestors: tuple[str, ...]  # names of enclosing groups

    def task_path(self, index: int) -> str:
        return self.path if self.group.implicit else f"{self.path}.tasks[{index}]"


def _locate(workflow: Workflow) -> Iterator[_Located]:
    implicit = 0
    stack: list[tuple[str, str, Group, tuple[str, ...]]] = []
    for i, group in enumerate(workflow.groups):
        if group.implicit:
            path = f"workflow.tasks[{implicit}]"
            implicit += 1
        else:
            path = f"workflow.groups[{i}]"
        stack.append((path, group.name, group, ()))
    stack.reverse()
    while stack:
        path, dotted, group, ancestors = stack.pop()
        yield _Located(path, dotted, group, ancestors)
        for k in range(len(group.children) - 1, -1, -1):
            child = group.children[k]
            stack.append((f"{path}.groups[{k}]", f"{dotted}.{child.name}", child,
                          (*ancestors, group.name)))


def validate(
    workflow: Workflow,
    *,
    engine: str | None = None,
    pm: Any = None,
    types: Mapping[str, Normaliser] | None = None,
) -> list[Problem]:
    """Every problem with ``workflow`` (empty when valid), plus the plugins' engine checks."""
    if pm is None:
        from .plugins import get_plugin_manager

        pm = get_plugin_manager()
    if types is None:
        types = directive_types(pm)
    located = list(_locate(workflow))
    problems: list[Problem] = []
    if (why := name_problem(workflow.name)) is not None:
        problems.append(Problem("workflow.name", why, "rename the workflow"))
    for where in located:
        problems += _group_problems(where, types)
    graph_problems = _name_problems(located) + _edge_problems(located)
    # Cycles are only looked for in a graph whose names are sound; otherwise they would repeat.
    sound = not graph_problems and not any(p.path.endswith(".name") for p in problems)
    problems += _cycle_problems(workflow, located) if sound else graph_problems
    for answer in pm.hook.groupplug_validate_spec(workflow=workflow, engine=engine):
        problems += list(answer or ())
    return problems


def check(workflow: Workflow, **kwargs: Any) -> Workflow:
    """``workflow`` itself when valid; otherwise :class:`GroupplugValueError` with every problem."""
    problems = validate(workflow, **kwargs)
    if problems:
        raise GroupplugValueError(problems)
    return workflow


def _group_problems(where: _Located, types: Mapping[str, Normaliser]) -> list[Problem]:
    group, path = where.group, where.path
    problems: list[Problem] = []
    if not group.implicit and (why := name_problem(group.name)) is not None:
        problems.append(Problem(f"{path}.name", why, "rename the group"))
    if not group.tasks and not group.children:
        problems.append(Problem(path, f'group "{group.name}": a group needs at least one task',
                                "add tasks: (or nested groups:) to it, or remove it"))
    leads = [t.name for t in group.tasks if t.lead]
    if len(group.tasks) > 1 and len(leads) != 1:
        what = f"{len(leads)} leads ({', '.join(leads)})" if leads else "no lead"
        problems.append(Problem(path, f'group "{group.name}" has {what}',
                                "mark exactly one task lead: true"))
    if group.barrier_timeout is not None and not group.barrier_timeout > 0:
        problems.append(Problem(f"{path}.barrierTimeout",
                                f"must be > 0 seconds, got {group.barrier_timeout!r}",
                                "remove it to wait without a limit"))
    members = {t.name for t in group.tasks}
    for member, override in group.directives.items():
        field = f"{path}.directives.{member}"
        if member not in members:
            problems.append(Problem(field, f"{member!r} is not a member of this group",
                                    f"name one of: {', '.join(sorted(members)) or '(none)'}"))
        problems += _directive_problems(override, field, types)
    for index, task in enumerate(group.tasks):
        problems += _task_problems(task, where.task_path(index), types)
    return problems


def _task_problems(task: Task, path: str, types: Mapping[str, Normaliser]) -> list[Problem]:
    problems: list[Problem] = []
    if (why := name_problem(task.name)) is not None:
        problems.append(Problem(f"{path}.name", why, "rename the task"))
    if task.command is None and task.argv is None and task.fn is None and task.native is None:
        problems.append(Problem(f"{path}.command", f'task "{task.name}" has nothing to run',
                                "give it command: (a shell command run by sh -c)"))
    if isinstance(task.retries, bool) or not isinstance(task.retries, int) or task.retries < 0:
        problems.append(Problem(f"{path}.retries", f"must be a whole number >= 0, got "
                                f"{task.retries!r}", "use retries: 0 for no retries"))
    if not task.retry_delay >= 0:
        problems.append(Problem(f"{path}.retryDelay", f"must be >= 0 seconds, got "
                                f"{task.retry_delay!r}", "use retryDelay: 0 to retry at once"))
    if task.name in task.inputs:
        problems.append(Problem(f"{path}.inputs", f'task "{task.name}" takes itself as input',
                                "remove it from inputs"))
    if task.command is not None and task.argv is not None:
        problems.append(Problem(f"{path}.command", f'task "{task.name}" has both a shell command '
                                "and an argument vector (argv)", "keep one of them"))
    if task.args and task.argv is None:
        problems.append(Problem(f"{path}.args", f'task "{task.name}" has args but no command '
                                "list to pass them to", "write command: [program] before args:"))
    problems += _token_problems(task, path)
    return problems + _directive_problems(task.directives, f"{path}.directives", types)


# -- OSMO's {{...}} tokens ----------------------------------------------------------------------

_TOKEN = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.DOTALL)
_INPUT = re.compile(r"^input:(\d+)$")
_RESOLVED_IN = "command, args, setup, environment values and file contents"


def _token_fields(task: Task, path: str) -> Iterator[tuple[str, str, bool]]:
    """``(field path, text, whether tokens are resolved there)`` for every text of a task."""
    for field, text in (("command", task.command), ("setup", task.setup)):
        if text is not None:
            yield f"{path}.{field}", text, True
    for i, text in enumerate(task.argv or ()):
        yield f"{path}.command[{i}]", text, True
    for i, text in enumerate(task.args):
        yield f"{path}.args[{i}]", text, True
    for key, text in task.environment.items():
        yield f"{path}.environment.{key}", str(text), True
    for i, file in enumerate(task.files):
        yield f"{path}.files[{i}].path", file.path, False
        yield f"{path}.files[{i}].contents", file.contents, True
    if task.image is not None:
        yield f"{path}.image", task.image, False
    for i, output in enumerate(task.outputs):
        yield f"{path}.outputs[{i}]", repr(output), False


def _token_problems(task: Task, path: str) -> list[Problem]:
    """``{{output}}`` and ``{{input:N}}`` (N within the task's inputs) where groupplug resolves
    them; every other ``{{...}}`` and every Jinja ``{% ... %}`` is refused, never passed on."""
    problems: list[Problem] = []
    for field, text, resolved in _token_fields(task, path):
        for match in _TOKEN.finditer(text):
            token = match.group(0)
            if match.group(2) is not None:
                problems.append(Problem(field, f"{token} is an OSMO (Jinja) template statement, "
                                        "which groupplug does not render",
                                        "write the workflow out without {% ... %}"))
                continue
            inner = match.group(1)
            name = inner.strip()
            number = _INPUT.match(name)
            if name == "output" or number:
                if not resolved:
                    problems.append(Problem(field, f"{token} is resolved only in {_RESOLVED_IN}",
                                            "write the path out here"))
                elif inner != name:
                    problems.append(Problem(field, f"{token}: groupplug resolves the token "
                                            "written without spaces", f"write {{{{{name}}}}}"))
                elif number and int(number.group(1)) >= len(task.inputs):
                    count = len(task.inputs)
                    have = (f"it has {count} input{'s' if count != 1 else ''} "
                            f"(0..{count - 1})" if count else "it has no inputs")
                    problems.append(Problem(
                        field, f'{token} is out of range for task "{task.name}": {have}',
                        "add the task to read to inputs: ({task: NAME}), or use a lower index"))
                continue
            if name == "workflow_id":
                problems.append(Problem(field, "OSMO's {{workflow_id}} is not resolved by "
                                        "groupplug", "use the workflow's name, or pass an id "
                                        "through environment:"))
            elif name.startswith("host:"):
                problems.append(Problem(field, f"OSMO's {token} is not resolved by groupplug "
                                        "(members are processes, not pods with host names)",
                                        "use localhost when the members share a host, or pass "
                                        "the address through a file in {{output}}"))
            else:
                problems.append(Problem(
                    field, f"{token} is an OSMO template variable: groupplug does not render "
                    "templates and resolves only {{output}} and {{input:N}}",
                    "replace it with its value (OSMO's default-values: holds the defaults)"))
    return problems


def _directive_problems(
    directives: Mapping[str, Any], path: str, types: Mapping[str, Normaliser]
) -> list[Problem]:
    if not isinstance(directives, Mapping):
        return [Problem(path, "expected a mapping of directive: value",
                        "write directives: {ngpu: 1}")]
    _, bad = normalise(directives, types)
    return [Problem(f"{path}.{key}", why) for key, why in bad.items()]


def _name_problems(located: list[_Located]) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, tuple[str, str, Any]] = {}  # key -> (path, name, Task | Group)
    for where in located:
        entries: list[tuple[str, str, Any]] = []
        if not where.group.implicit:
            entries.append((where.path, where.group.name, where.group))
        entries += [(where.task_path(i), t.name, t) for i, t in enumerate(where.group.tasks)]
        for path, name, obj in entries:
            key = name_key(name)
            first = owners.setdefault(key, (path, name, obj))
            if first[2] is obj:
                continue
            if isinstance(obj, Task) and isinstance(first[2], Task):
                if replace(obj, lead=False) == replace(first[2], lead=False):
                    continue  # one task in several groups (signac)
                if name == first[1]:
                    problems.append(Problem(
                        path, f'task "{name}" is defined again with different fields '
                        f"(first at {first[0]})",
                        "define it once (under workflow.tasks) and list its name in each group"))
                    continue
            problems.append(Problem(
                f"{path}.name", f'name "{name}" collides with "{first[1]}" ({first[0]})',
                "names are compared ignoring case and '-' vs '_'; rename one"))
    return problems


def _edge_problems(located: list[_Located]) -> list[Problem]:
    groups = {w.group.name for w in located}
    tasks = {t.name for w in located for t in w.group.tasks}
    problems: list[Problem] = []
    for where in located:
        group = where.group
        for name in group.upstream:
            if name not in groups:
                hint = " (it is a task: name its group, or use inputs:)" if name in tasks else ""
                problems.append(Problem(f"{where.path}.upstream", f"unknown group {name!r}{hint}",
                                        f"upstream names groups: {', '.join(sorted(groups))}"))
            elif name == group.name or name in where.ancestors:
                problems.append(Problem(f"{where.path}.upstream",
                                        f"group {group.name!r} cannot wait for {name!r}, "
                                        "which contains it", "remove it from upstream"))
        members = {t.name for t in group.tasks}
        for index, task in enumerate(group.tasks):
            for name in task.inputs:
                path = f"{where.task_path(index)}.inputs"
                if name not in tasks:
                    problems.append(Problem(path, f"unknown task {name!r}",
                                            "inputs name tasks of this workflow"))
                elif name in members and name != task.name and group.has_barrier:
                    problems.append(Problem(
                        path, f'task "{task.name}" needs "{name}" from its own barrier group '
                        f'"{group.name}": members wait at the barrier for each other, so it would '
                        "wait forever", f"set barrier: false on the group or move {name} out"))
    return problems


def _cycle_problems(workflow: Workflow, located: list[_Located]) -> list[Problem]:
    problems: list[Problem] = []
    by_dotted = {w.dotted: w for w in located}
    cycle = find_cycle(dependencies(workflow))
    if cycle:
        names = " -> ".join(by_dotted[p].group.name for p in cycle)
        problems.append(Problem(by_dotted[cycle[0]].path, f"cycle between groups: {names}",
                                "remove one of these upstream/inputs edges"))
    for where in located:
        members = {t.name for t in where.group.tasks}
        inner = {t.name: tuple(i for i in t.inputs if i in members and i != t.name)
                 for t in where.group.tasks}
        if cycle := find_cycle(inner):
            problems.append(Problem(f"{where.path}.tasks", "cycle between tasks: "
                                    + " -> ".join(cycle), "remove one of these inputs"))
    return problems
