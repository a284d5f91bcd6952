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
        - {name: worker, command: [python3], args: [train.py, --rank, 1],   # OSMO's task fields
           environment: {WORLD_SIZE: 2}, files: [{path: train.py, contents: "..."}],
           inputs: [{task: download}], image: "nvcr.io/...", resource: gpu, outputs: [...]}
        groups: [...]           # nested groups
      resources: {gpu: {cpu: 4, gpu: 1, memory: 16Gi}}  # OSMO: cpu -> np, gpu -> ngpu, memory

Every field is validated through the pydantic models of :mod:`groupplug.schema_model` (which
also generate the file's JSON Schema); only a file whose fields are sound is built into specs,
and the rules across fields run in :mod:`groupplug.validation`.
The file is parsed once with the C loader when PyYAML has it. Line numbers are only looked up
(a second, node-level parse) when there are problems to report, so valid files pay nothing extra.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .directives import Normaliser, directive_types, normalise
from .exceptions import GroupplugValueError, Problem, SpecLoadError
from .schema_model import WorkflowModel, field_problems
from .spec import Group, Task, TaskFile, Workflow, freeze

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader


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
    problems = field_problems(WorkflowModel, data, "workflow")
    if problems:  # a file whose fields are wrong is not built: the problems would repeat
        raise GroupplugValueError(_with_lines(problems, text))
    builder = _Builder(directive_types(pm))
    workflow = builder.workflow(data)
    problems = builder.problems
    problems += [_remap(p, builder.implicit_paths)
                 for p in validate(workflow, engine=engine, pm=pm)]
    if problems:
        raise GroupplugValueError(_with_lines(problems, text))
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
    if "\n" in value.rstrip("\n"):  # a script (files: contents): a block, as people write it;
        # the emitter falls back to a quoted scalar where a block cannot hold the text exactly
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
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
        hint = _TEMPLATE_FIX if ("{{" in text or "{%" in text) else ""
        raise SpecLoadError([Problem(where, f"YAML syntax error: {what}", hint,
                                     line=line)]) from None
    if data is None:
        raise SpecLoadError([Problem(where, "the file is empty", fix)])
    if not isinstance(data, dict):
        raise SpecLoadError(
            [Problem(where, f"the top level is a {_kind(data)}, not a mapping", fix)]
        )
    if "default-values" in data:
        raise SpecLoadError([Problem(
            "default-values", "this is an OSMO workflow template, which groupplug does not "
            "render", _TEMPLATE_FIX)])
    extra = [k for k in data if k != "workflow"]
    if "workflow" not in data or extra:
        found = ", ".join(map(str, extra)) or "nothing"
        raise SpecLoadError([Problem(where, f"expected only a 'workflow:' key, found {found}",
                                     fix)])
    if not isinstance(data["workflow"], dict):
        raise SpecLoadError([Problem("workflow", f"is a {_kind(data['workflow'])}", fix)])
    return data["workflow"]


_TEMPLATE_FIX = ("it looks like an OSMO (Jinja) template: write out the rendered workflow, "
                 "each {{ variable }} replaced by its value (default-values: holds the defaults)")


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


class _Builder:
    """Turns a file whose fields passed :mod:`groupplug.schema_model` into spec objects, collecting
    the problems that need more than one field (references, resources, argument forms)."""

    def __init__(self, types: Mapping[str, Normaliser]):
        self.types = types
        self.problems: list[Problem] = []
        self.definitions: dict[str, Task] = {}
        self.referenced: set[str] = set()
        self.implicit_paths: dict[str, str] = {}
        self.resources: dict[str, dict[str, Any]] = {}  # name -> the directives it gives
        self.osmo_inputs = False

    def problem(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path, message, fix))

    def directives(self, value: Any) -> dict[str, Any]:
        # Values that do not normalise are kept raw: validation reports them with the key.
        good, _ = normalise(value or {}, self.types)
        return {k: good.get(k, v) for k, v in (value or {}).items()}

    # -- the three levels --

    def workflow(self, data: dict[str, Any]) -> Workflow:
        raw_resources = data.get("resources") or {}
        for rname, spec in raw_resources.items():
            self.resources[rname] = self.resource(spec, f"workflow.resources.{rname}")
        raw_groups = data.get("groups") or []
        raw_tasks = data.get("tasks") or []
        top_tasks = [(f"workflow.tasks[{i}]", self.task(t, f"workflow.tasks[{i}]"))
                     for i, t in enumerate(raw_tasks)]
        for _, task in top_tasks:
            self.definitions.setdefault(task.name, replace(task, lead=False))
        self.collect_definitions(raw_groups, "workflow")
        groups = [self.group(raw, f"workflow.groups[{i}]") for i, raw in enumerate(raw_groups)]
        for path, task in top_tasks:
            if task.name not in self.referenced:
                self.implicit_paths[f"workflow.tasks[{len(self.implicit_paths)}]"] = path
                groups.append(Group(name=task.name, tasks=(task,), barrier=False, implicit=True))
        if not raw_groups and not raw_tasks:
            self.problem("workflow", "the workflow has no groups and no tasks",
                         "add groups: (or tasks:) to it")
        return Workflow(name=data["name"], groups=tuple(groups), resources=freeze(raw_resources),
                        osmo_inputs=self.osmo_inputs)

    def resource(self, spec: dict[str, Any], path: str) -> dict[str, Any]:
        """The directives an OSMO resource spec gives its tasks: cpu -> np, gpu -> ngpu,
        memory -> memory. storage, platform, nodesExcluded and topology are only recorded."""
        found, problems = resource_directives(spec, self.types)
        for key, why in problems.items():
            self.problem(f"{path}.{key}", why)
        return found

    def collect_definitions(self, raw_groups: list[Any], path: str) -> None:
        """First pass: every inline task definition, so string references resolve anywhere."""
        for i, raw in enumerate(raw_groups):
            gpath = f"{path}.groups[{i}]"
            for j, t in enumerate(raw.get("tasks") or []):
                if isinstance(t, dict):
                    built = self.task(t, f"{gpath}.tasks[{j}]", report=False)
                    self.definitions.setdefault(built.name, replace(built, lead=False))
                else:
                    self.referenced.add(t)
            self.collect_definitions(raw.get("groups") or [], gpath)

    def group(self, data: dict[str, Any], path: str) -> Group:
        tasks = [task for j, raw in enumerate(data.get("tasks") or [])
                 if (task := self.member(raw, f"{path}.tasks[{j}]")) is not None]
        lead = data.get("lead")
        if lead is not None:
            if lead not in {t.name for t in tasks}:
                self.problem(f"{path}.lead", f"{lead!r} is not a member of this group",
                             f"name one of: {', '.join(t.name for t in tasks)}")
            tasks = [replace(t, lead=True) if t.name == lead else t for t in tasks]
        children = [self.group(raw, f"{path}.groups[{k}]")
                    for k, raw in enumerate(data.get("groups") or [])]
        overrides = {member: self.directives(value)
                     for member, value in (data.get("directives") or {}).items()}
        timeout = data.get("barrierTimeout")
        return Group(
            name=data["name"],
            tasks=tuple(tasks),
            children=tuple(children),
            barrier=data.get("barrier", True),
            barrier_timeout=float(timeout) if timeout is not None else None,
            ignore_nonlead_status=data.get("ignoreNonleadStatus", True),
            directives=freeze(overrides),
            upstream=tuple(data.get("upstream") or ()),
            tooltip=data.get("tooltip"),
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

    def task(self, data: dict[str, Any], path: str, report: bool = True) -> Task:
        if not report:
            saved, self.problems = self.problems, []
        try:
            command, argv, args = self.command(data, path)
            inputs = []
            for entry in data.get("inputs") or []:
                if isinstance(entry, dict):
                    self.osmo_inputs = True
                    entry = entry["task"]
                inputs.append(entry)
            resource = data.get("resource")
            base = self.resources.get(resource or "default", {})
            if resource is not None and resource not in self.resources:
                known = ", ".join(self.resources) or "(none: add workflow.resources)"
                self.problem(f"{path}.resource", f"unknown resource {resource!r}",
                             f"name one of the workflow's resources: {known}")
            delay = data.get("retryDelay", 0)
            return Task(
                name=data["name"],
                command=command,
                setup=data.get("setup"),
                lead=data.get("lead", False),
                inputs=tuple(inputs),
                retries=data.get("retries", 0),
                retry_delay=float(delay),
                directives=freeze({**base, **self.directives(data.get("directives"))}),
                argv=argv,
                args=args,
                environment=freeze({k: _text(v) for k, v in
                                    (data.get("environment") or {}).items()}),
                files=tuple(TaskFile(f["path"], f["contents"]) for f in data.get("files") or ()),
                outputs=tuple(freeze(o) for o in data.get("outputs") or ()),
                image=data.get("image"),
                resource=resource,
            )
        finally:
            if not report:
                self.problems = saved

    def command(self, data: dict[str, Any], path: str
                ) -> tuple[str | None, tuple[str, ...] | None, tuple[str, ...]]:
        """``(shell command, argv, args)``: a string is run by ``sh -c``; OSMO's list (plus
        ``args``) runs without a shell. A one-word string before ``args`` is OSMO's
        ``command: [word]`` written without brackets, and runs as that program."""
        command = data.get("command")
        args = tuple(_text(a) for a in data.get("args") or ())
        if isinstance(command, list):
            if not command:
                self.problem(f"{path}.command", "an empty command list names no program",
                             "write command: [program, arg, ...]")
                return None, None, args
            argv = tuple(_text(c) for c in command)
            if argv[0].split() != [argv[0]]:
                self.problem(
                    f"{path}.command[0]", f"the program {argv[0]!r} has spaces: a command list "
                    "runs its first entry as the program's name, with no shell to split it",
                    f"write command: {json.dumps(shlex.split(argv[0]) + list(argv[1:]))}, or "
                    f"command: {json.dumps(argv[0])} (a string, run by sh -c)")
            return None, argv, args
        if "args" in data and data["args"] is not None:
            if command is None:
                self.problem(f"{path}.args", "args without a command list",
                             "add command: [program] before args:")
                return None, None, args
            if _ONE_WORD.match(command):
                return None, (command,), args
            self.problem(
                f"{path}.command", f"a shell command ({command!r}, run by sh -c) cannot take "
                "args: the arguments would not reach the program",
                f"write it as a list, command: {json.dumps(shlex.split(command))}, or put the "
                "arguments in the string and remove args:")
            return command, None, args
        return command, None, ()


#: A command string that is only a program name or path: nothing for a shell to interpret.
_ONE_WORD = re.compile(r"^[A-Za-z0-9_./+@%:,=-]+$")


def _text(value: Any) -> str:
    """OSMO's scalars as the text a process receives (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resource_directives(spec: Mapping[str, Any], types: Mapping[str, Normaliser]
                        ) -> tuple[dict[str, Any], dict[str, str]]:
    """``(directives, {field: problem})`` an OSMO resource spec gives: cpu -> np (whole
    processes, rounded up), gpu -> ngpu, memory -> memory (``32Gi`` is 32 GB)."""
    raw: dict[str, Any] = {}
    problems: dict[str, str] = {}
    if spec.get("cpu") is not None:
        cpu = spec["cpu"]
        if cpu > 0:
            raw["np"] = math.ceil(cpu)
        else:
            problems["cpu"] = f"cpu must be > 0 cores, got {cpu!r}"
    for name, key in (("gpu", "ngpu"), ("memory", "memory")):
        if spec.get(name) is not None:
            raw[key] = spec[name]
    good, bad = normalise(raw, types)
    for key, why in bad.items():
        problems[{"ngpu": "gpu", "np": "cpu"}.get(key, key)] = why
    return good, problems


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


@dataclass(frozen=True)
class _Dump:
    """What a task's YAML depends on beyond the task: OSMO's input spelling and the directives
    each resource spec gives (written as ``resource:``, not again under ``directives:``)."""

    osmo_inputs: bool = False
    resources: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def task(self, task: Task, *, with_lead: bool) -> dict[str, Any]:
        if task.fn is not None or task.setup_fn is not None:
            raise GroupplugValueError([Problem(
                f'task "{task.name}"', "runs a Python callable, which YAML cannot hold",
                "give it a shell command instead, or keep the workflow in Python")])
        data: dict[str, Any] = {"name": task.name}
        if with_lead and task.lead:
            data["lead"] = True
        inputs = [{"task": n} for n in task.inputs] if self.osmo_inputs else list(task.inputs)
        base = self.resources.get(task.resource or "default", {})
        own = {k: v for k, v in task.directives.items() if k not in base or base[k] != v}
        command = list(task.argv) if task.argv is not None else task.command
        for key, value, default in (
                ("image", task.image, None), ("setup", task.setup, None),
                ("command", command, None), ("args", list(task.args), []),
                ("environment", _plain(task.environment), {}), ("inputs", inputs, []),
                ("files", [{"path": f.path, "contents": f.contents} for f in task.files], []),
                ("outputs", _plain(task.outputs), []), ("resource", task.resource, None),
                ("retries", task.retries, 0), ("retryDelay", task.retry_delay, 0.0),
                ("directives", _plain(own), {})):
            if value != default:
                data[key] = value
        return data

    def group(self, group: Group, shared: set[str]) -> dict[str, Any]:
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
            data["tasks"] = [t.name if t.name in shared else self.task(t, with_lead=True)
                             for t in group.tasks]
        if group.children:
            data["groups"] = [self.group(c, shared) for c in group.children]
        return data


def _workflow_data(workflow: Workflow) -> dict[str, Any]:
    from .plugins import get_plugin_manager

    types = directive_types(get_plugin_manager())
    dump = _Dump(workflow.osmo_inputs, {name: resource_directives(spec, types)[0]
                                        for name, spec in workflow.resources.items()})
    seen: dict[str, int] = {}
    for _, group in workflow.walk():
        for task in group.tasks:
            seen[task.name] = seen.get(task.name, 0) + 1
    shared = {name for name, count in seen.items() if count > 1}
    top: dict[str, dict[str, Any]] = {}
    for _, group in workflow.walk():
        for task in group.tasks:
            if task.name in shared:
                top.setdefault(task.name, dump.task(replace(task, lead=False), with_lead=False))
            elif group.implicit:
                top[task.name] = dump.task(task, with_lead=True)
    data: dict[str, Any] = {"name": workflow.name}
    if workflow.resources:
        data["resources"] = _plain(workflow.resources)
    if top:
        data["tasks"] = list(top.values())
    groups = [dump.group(g, shared) for g in workflow.groups if not g.implicit]
    if groups:
        data["groups"] = groups
    return data


__all__ = ["dump_workflow", "load_workflow", "loads_workflow"]
