"""YAML front door: OSMO-shaped workflow files to frozen, validated specs, and back.

::

    workflow:
      name: train-job
      tasks: [...]            # tasks outside groups (singleton groups), or shared by several
      groups:
      - name: train
        barrier: true           barrierTimeout: 600      ignoreNonleadStatus: true
        upstream: [prepare]     lead: master             tooltip: "..."
        directives: {worker-1: {ngpu: 2}}                # per member, replaces the task's own
        tasks:
        - {name: master, lead: true, setup: "...", command: "...", inputs: [download],
           retries: 1, retryDelay: 0, directives: {ngpu: 1, memory: 16GB, walltime: 2h}}
        - simulate              # a reference to a task defined elsewhere (signac: several groups)
        groups: [...]           # nested groups

The file is parsed once with the C loader when PyYAML has it. Line numbers are only looked up
(a second, node-level parse) when there are problems to report, so valid files pay nothing extra.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from .directives import Normaliser, directive_types, normalise
from .exceptions import GroupplugValueError, Problem, SpecLoadError
from .spec import Group, Task, Workflow, freeze

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

WORKFLOW_FIELDS = ("name", "groups", "tasks")
GROUP_FIELDS = ("name", "tasks", "groups", "lead", "barrier", "barrierTimeout",
                "ignoreNonleadStatus", "directives", "upstream", "tooltip")
TASK_FIELDS = ("name", "command", "setup", "lead", "inputs", "retries", "retryDelay",
               "directives")

_NUMBER = (int, float)


def load_workflow(
    source: str | os.PathLike[str] | bytes, *, engine: str | None = None, pm: Any = None
) -> Workflow:
    """Load and validate a workflow from a file path, YAML text or bytes.

    A ``str`` without a newline is a path. Raises :class:`SpecLoadError` when the source cannot be
    read or parsed and :class:`GroupplugValueError` (every problem, with YAML line numbers) when
    the spec is invalid. ``engine`` adds that engine's own checks.
    """
    if isinstance(source, bytes):
        return loads_workflow(_decode(source, "<bytes>"), engine=engine, pm=pm)
    if isinstance(source, os.PathLike) or "\n" not in source:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpecLoadError(
                [Problem(str(path), f"cannot read the file: {exc.strerror or exc}")]
            ) from None
        return loads_workflow(_decode(data, str(path)), filename=str(path), engine=engine, pm=pm)
    return loads_workflow(source, engine=engine, pm=pm)


def loads_workflow(
    text: str, filename: str | None = None, *, engine: str | None = None, pm: Any = None
) -> Workflow:
    """Load and validate a workflow from YAML text (see :func:`load_workflow`)."""
    from .validation import validate

    where = filename or "<yaml>"
    data = _parse(text, where)
    if pm is None:
        from .plugins import get_plugin_manager

        pm = get_plugin_manager()
    builder = _Builder(directive_types(pm))
    workflow = builder.workflow(data)
    problems = builder.problems
    if workflow is not None:
        problems += [_remap(p, builder.implicit_paths)
                     for p in validate(workflow, engine=engine, pm=pm)]
    if problems:
        raise GroupplugValueError(_with_lines(problems, text))
    assert workflow is not None
    return workflow


def dump_workflow(workflow: Workflow) -> str:
    """YAML that :func:`load_workflow` turns back into a workflow equal to ``workflow``."""
    return yaml.dump({"workflow": _workflow_data(workflow)}, Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Writes Unicode line breaks (NEL, LS, PS) as escapes: PyYAML writes them raw inside a
    quoted scalar, where YAML folds them into spaces and the text would not load back equal."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if any(ch in value for ch in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


# -- reading ---------------------------------------------------------------------------------


def _decode(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise SpecLoadError([Problem(where, "this is binary data, not a YAML text file",
                                     "pass a .yaml workflow file")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecLoadError([Problem(where, f"not UTF-8 text (byte {exc.start})",
                                     "save the file as UTF-8")]) from None


def _parse(text: str, where: str) -> dict[str, Any]:
    fix = "the file needs a top-level 'workflow:' mapping with a name and groups"
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecLoadError([Problem(where, f"YAML syntax error: {what}", line=line)]) from None
    if data is None:
        raise SpecLoadError([Problem(where, "the file is empty", fix)])
    if not isinstance(data, dict):
        raise SpecLoadError(
            [Problem(where, f"the top level is a {_kind(data)}, not a mapping", fix)]
        )
    extra = [k for k in data if k != "workflow"]
    if "workflow" not in data or extra:
        found = ", ".join(map(str, extra)) or "nothing"
        raise SpecLoadError([Problem(where, f"expected only a 'workflow:' key, found {found}",
                                     fix)])
    if not isinstance(data["workflow"], dict):
        raise SpecLoadError([Problem("workflow", f"is a {_kind(data['workflow'])}", fix)])
    return data["workflow"]


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


class _Builder:
    """Turns parsed YAML into spec objects, collecting problems instead of stopping at one."""

    def __init__(self, types: Mapping[str, Normaliser]):
        self.types = types
        self.problems: list[Problem] = []
        self.definitions: dict[str, Task] = {}
        self.referenced: set[str] = set()
        self.implicit_paths: dict[str, str] = {}

    def problem(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix))

    def fields(self, data: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.problem(path, f"expected a mapping, found a {_kind(data)}",
                         f"write it as 'key: value' lines with the fields {', '.join(allowed)}")
            return None
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                self.problem(f"{path}.{key}", "unknown field",
                             f"{hint}allowed: {', '.join(allowed)}")
        return data

    def value(self, data: dict[str, Any], key: str, path: str, kinds: Any, default: Any,
              expected: str) -> Any:
        if key not in data or (data[key] is None and default is None):
            return default
        value = data[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.problem(f"{path}.{key}", f"expected {expected}, found {_kind(value)} {value!r}")
            return default
        return value

    def names(self, data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{path}.{key}", f"expected a list of names, found {value!r}",
                         f"write {key}: [name, ...]")
            return ()
        return tuple(value)

    def directives(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping of directive: value, found {_kind(value)}",
                         "write directives: {ngpu: 1, memory: 16GB}")
            return {}
        # Values that do not normalise are kept raw: validation reports them with the key.
        good, _ = normalise(value, self.types)
        return {k: good.get(k, v) for k, v in value.items()}

    # -- the three levels --

    def workflow(self, data: dict[str, Any]) -> Workflow | None:
        fields = self.fields(data, "workflow", WORKFLOW_FIELDS)
        if fields is None:
            return None
        name = self.value(data, "name", "workflow", str, "", "a name")
        if "name" not in data:
            self.problem("workflow.name", "missing", "give the workflow a name: name: my-workflow")
        raw_groups = self.sequence(data, "groups", "workflow")
        raw_tasks = self.sequence(data, "tasks", "workflow")
        top_tasks = [(f"workflow.tasks[{i}]", self.task(t, f"workflow.tasks[{i}]"))
                     for i, t in enumerate(raw_tasks)]
        for _, task in top_tasks:
            if task is not None:
                self.definitions.setdefault(task.name, replace(task, lead=False))
        self.collect_definitions(raw_groups, "workflow")
        groups = [g for i, raw in enumerate(raw_groups)
                  if (g := self.group(raw, f"workflow.groups[{i}]")) is not None]
        for path, task in top_tasks:
            if task is not None and task.name not in self.referenced:
                self.implicit_paths[f"workflow.tasks[{len(self.implicit_paths)}]"] = path
                groups.append(Group(name=task.name, tasks=(task,), barrier=False, implicit=True))
        if not raw_groups and not raw_tasks:
            self.problem("workflow", "the workflow has no groups and no tasks",
                         "add groups: (or tasks:) to it")
        return Workflow(name=name, groups=tuple(groups))

    def sequence(self, data: dict[str, Any], key: str, path: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(f"{path}.{key}", f"expected a list, found a {_kind(value)}",
                         f"write each entry of {key}: on its own '- ' line")
            return []
        return value

    def collect_definitions(self, raw_groups: list[Any], path: str) -> None:
        """First pass: every inline task definition, so string references resolve anywhere."""
        for i, raw in enumerate(raw_groups):
            if not isinstance(raw, dict):
                continue
            gpath = f"{path}.groups[{i}]"
            for j, t in enumerate(raw.get("tasks") or []):
                if isinstance(t, dict) and isinstance(t.get("name"), str):
                    built = self.task(t, f"{gpath}.tasks[{j}]", report=False)
                    if built is not None:
                        self.definitions.setdefault(built.name, replace(built, lead=False))
                elif isinstance(t, str):
                    self.referenced.add(t)
            if isinstance(raw.get("groups"), list):
                self.collect_definitions(raw["groups"], gpath)

    def group(self, data: Any, path: str) -> Group | None:
        if self.fields(data, path, GROUP_FIELDS) is None:
            return None
        name = self.value(data, "name", path, str, "", "a name")
        if "name" not in data:
            self.problem(f"{path}.name", "missing", "give the group a name")
        tasks: list[Task] = []
        for j, raw in enumerate(self.sequence(data, "tasks", path)):
            task = self.member(raw, f"{path}.tasks[{j}]")
            if task is not None:
                tasks.append(task)
        lead = self.value(data, "lead", path, str, None, "the name of the lead member")
        if lead is not None:
            if lead not in {t.name for t in tasks}:
                self.problem(f"{path}.lead", f"{lead!r} is not a member of this group",
                             f"name one of: {', '.join(t.name for t in tasks)}")
            tasks = [replace(t, lead=True) if t.name == lead else t for t in tasks]
        children = [c for k, raw in enumerate(self.sequence(data, "groups", path))
                    if (c := self.group(raw, f"{path}.groups[{k}]")) is not None]
        overrides = self.value(data, "directives", path, dict, {}, "a mapping of member: {...}")
        member_directives = {}
        for member, value in (overrides or {}).items():
            member_directives[member] = self.directives(value, f"{path}.directives.{member}")
        timeout = self.value(data, "barrierTimeout", path, _NUMBER, None, "seconds (a number)")
        return Group(
            name=name,
            tasks=tuple(tasks),
            children=tuple(children),
            barrier=self.value(data, "barrier", path, bool, True, "true or false"),
            barrier_timeout=float(timeout) if timeout is not None else None,
            ignore_nonlead_status=self.value(data, "ignoreNonleadStatus", path, bool, True,
                                             "true or false"),
            directives=freeze(member_directives),
            upstream=self.names(data, "upstream", path),
            tooltip=self.value(data, "tooltip", path, str, None, "text"),
        )

    def member(self, raw: Any, path: str) -> Task | None:
        if isinstance(raw, str):
            self.referenced.add(raw)
            if raw not in self.definitions:
                self.problem(path, f"unknown task {raw!r}",
                             "define it under workflow.tasks or in another group, or fix the name")
                return None
            return self.definitions[raw]
        return self.task(raw, path)

    def task(self, data: Any, path: str, report: bool = True) -> Task | None:
        if not report:
            saved, self.problems = self.problems, []
        try:
            if self.fields(data, path, TASK_FIELDS) is None:
                return None
            if "name" not in data:
                self.problem(f"{path}.name", "missing", "give the task a name")
            retries = self.value(data, "retries", path, int, 0, "a whole number")
            delay = self.value(data, "retryDelay", path, _NUMBER, 0, "seconds (a number)")
            return Task(
                name=self.value(data, "name", path, str, "", "a name"),
                command=self.value(data, "command", path, str, None, "a shell command"),
                setup=self.value(data, "setup", path, str, None, "a shell command"),
                lead=self.value(data, "lead", path, bool, False, "true or false"),
                inputs=self.names(data, "inputs", path),
                retries=retries,
                retry_delay=float(delay),
                directives=freeze(self.directives(data.get("directives"),
                                                  f"{path}.directives")),
            )
        finally:
            if not report:
                self.problems = saved


# -- problems and lines ----------------------------------------------------------------------

_INDEXED = re.compile(r"^(workflow\.tasks\[\d+\])")


def _remap(problem: Problem, implicit_paths: Mapping[str, str]) -> Problem:
    """Validation names the k-th singleton group ``workflow.tasks[k]``; point at its YAML entry."""
    match = _INDEXED.match(problem.path)
    if match and match.group(1) in implicit_paths:
        path = implicit_paths[match.group(1)] + problem.path[match.end():]
        return replace(problem, path=path)
    return problem


def _with_lines(problems: list[Problem], text: str) -> list[Problem]:
    try:
        index = _line_index(text)
    except yaml.YAMLError:  # pragma: no cover - the text parsed once already
        return problems
    return [p if p.line else replace(p, line=_line_of(p.path, index)) for p in problems]


def _line_index(text: str) -> dict[str, int]:
    root = yaml.compose(text, Loader=_Loader)  # noqa: S506 - a safe loader
    index: dict[str, int] = {}
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        index.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                index[sub] = key.start_mark.line + 1
                stack.append((value, sub))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
    return index


def _line_of(path: str, index: Mapping[str, int]) -> int | None:
    while path:
        if path in index:
            return index[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


# -- writing ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _task_data(task: Task, *, with_lead: bool) -> dict[str, Any]:
    if task.fn is not None or task.setup_fn is not None:
        raise GroupplugValueError([Problem(
            f'task "{task.name}"', "runs a Python callable, which YAML cannot hold",
            "give it a shell command instead, or keep the workflow in Python")])
    data: dict[str, Any] = {"name": task.name}
    if with_lead and task.lead:
        data["lead"] = True
    for key, value, default in (("setup", task.setup, None), ("command", task.command, None),
                                ("inputs", list(task.inputs), []), ("retries", task.retries, 0),
                                ("retryDelay", task.retry_delay, 0.0),
                                ("directives", _plain(task.directives), {})):
        if value != default:
            data[key] = value
    return data


def _workflow_data(workflow: Workflow) -> dict[str, Any]:
    seen: dict[str, int] = {}
    for _, group in workflow.walk():
        for task in group.tasks:
            seen[task.name] = seen.get(task.name, 0) + 1
    shared = {name for name, count in seen.items() if count > 1}
    top: dict[str, dict[str, Any]] = {}
    for _, group in workflow.walk():
        for task in group.tasks:
            if task.name in shared:
                top.setdefault(task.name, _task_data(replace(task, lead=False), with_lead=False))
            elif group.implicit:
                top[task.name] = _task_data(task, with_lead=True)
    data: dict[str, Any] = {"name": workflow.name}
    if top:
        data["tasks"] = list(top.values())
    groups = [_group_data(g, shared) for g in workflow.groups if not g.implicit]
    if groups:
        data["groups"] = groups
    return data


def _group_data(group: Group, shared: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"name": group.name}
    shared_leads = [t.name for t in group.tasks if t.lead and t.name in shared]
    if shared_leads:
        data["lead"] = shared_leads[0]
    for key, value, default in (("barrier", group.barrier, True),
                                ("barrierTimeout", group.barrier_timeout, None),
                                ("ignoreNonleadStatus", group.ignore_nonlead_status, True),
                                ("upstream", list(group.upstream), []),
                                ("tooltip", group.tooltip, None),
                                ("directives", _plain(group.directives), {})):
        if value != default:
            data[key] = value
    if group.tasks:
        data["tasks"] = [t.name if t.name in shared else _task_data(t, with_lead=True)
                         for t in group.tasks]
    if group.children:
        data["groups"] = [_group_data(c, shared) for c in group.children]
    return data


__all__ = ["dump_workflow", "load_workflow", "loads_workflow"]
