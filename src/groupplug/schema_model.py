"""The workflow file's model: pydantic v2 classes that validate a parsed YAML file field by field
and generate its JSON Schema (``groupplug schema``, ``workflow.schema.json``).

The loader validates every field through :func:`field_problems` and builds spec objects only from a
file that passed; the checks that span fields (leads, names, edges, cycles, directives) stay in
:mod:`groupplug.validation`, shared with the Python API. Pydantic's errors are turned into
groupplug's own :class:`Problem` messages here: the exact path, what was expected in the YAML's
terms, "did you mean" for unknown fields, and a fix for fields OSMO has and groupplug cannot honour.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from typing import Annotated, Any, ClassVar, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
)

from .exceptions import Problem

#: What OSMO allows where a string belongs (``args: [--rank, 0]``, ``PORT: 8080``); the loader
#: turns numbers and booleans into text, as the container runtime would.
Scalar = str | int | float | bool


def _text_or(other: Any, other_tag: str) -> Any:
    """``str | other`` where a string picks the first branch and anything else the second: one
    error per field instead of one per branch."""
    return Annotated[
        Annotated[str, Tag("text")] | Annotated[other, Tag(other_tag)],
        Discriminator(lambda v: "text" if isinstance(v, str) else other_tag),
    ]


#: Directives in the schema: the core's keys described for completion; plugins add keys (an
#: Airflow pool, a queue), so other keys are left to the loader, which knows the plugins.
Directives = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object",
    "properties": {
        "np": {"type": "integer", "minimum": 1, "description": "Processes."},
        "ngpu": {"type": "integer", "minimum": 0, "description": "GPUs."},
        "memory": {"type": ["number", "string"],
                   "description": "GB (a number), or 16GB, 512MB, 32Gi."},
        "walltime": {"type": ["number", "string"],
                     "description": "Hours (a number), or 1h30m, 90m, 2:30:00."},
    },
    "additionalProperties": True,
})]


class _Model(BaseModel):
    """Every level: unknown fields are errors and values are never coerced (``"2"`` is no int)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    #: What a field holds, in the file's terms: ``expected <phrase>, found ...``. ``field[]`` is
    #: an entry of a list field, ``field.*`` a value of a mapping field.
    EXPECTED: ClassVar[dict[str, str]] = {}
    #: How to fix a wrong value of a field.
    FIXES: ClassVar[dict[str, str]] = {}
    #: Fields OSMO defines that groupplug refuses: ``field: (why, what to do)``.
    UNSUPPORTED: ClassVar[dict[str, tuple[str, str]]] = {}
    #: How to fix a missing required field.
    MISSING: ClassVar[dict[str, str]] = {}


_HOST = "groupplug runs tasks as processes on the engine's hosts, not in OSMO's pods"


class TaskInput(_Model):
    """OSMO's task input ``{task: NAME}``: this task needs NAME (and reads its ``{{output}}``)."""

    task: str = Field(description="The name of a task this one needs.")

    EXPECTED = {"task": "a task name"}
    MISSING = {"task": "write the input as {task: NAME}"}
    UNSUPPORTED = {
        "url": ("a URL input: groupplug does not download data",
                "download it in the task's setup: or command:, or use {task: NAME} inputs only"),
        "dataset": ("an OSMO dataset input: groupplug does not fetch datasets",
                    "fetch it in the task's setup: or command:, or use {task: NAME} inputs only"),
        "regex": ("a filter on an input's files: groupplug does not filter, {{input:N}} is "
                  "the input task's whole output directory",
                  "remove regex: and pick the files in the command"),
    }


class TaskFileModel(_Model):
    """An inline file OSMO writes before the task starts (``files: [{path, contents}]``)."""

    path: str = Field(description="Where to write it, relative to the task's working directory.")
    contents: str = Field(description="The file's text. {{output}} and {{input:N}} are resolved.")

    EXPECTED = {"path": "a file path", "contents": "the file's text"}
    MISSING = {"path": "say where to write it: path: run.sh",
               "contents": "give its text inline: contents: |"}
    UNSUPPORTED = {"localpath": ("a file copied from the submitting machine: groupplug "
                                 "writes inline files only", "paste its text inline with "
                                 "contents: |")}


class TaskModel(_Model):
    """A group member: a shell command (``sh -c``) or OSMO's argument vector (``command`` list)."""

    name: str = Field(description="Unique in the workflow.")
    command: _text_or(list[Scalar], "argv") | None = Field(  # type: ignore[valid-type]
        None, description="A shell command run by sh -c, or OSMO's list [program, arg, ...] run "
        "without a shell (with args appended).")
    setup: str | None = Field(None, description="A shell command run before the barrier.")
    lead: bool = Field(False, description="This task's status is its group's.")
    inputs: list[_text_or(TaskInput, "task")] | None = Field(  # type: ignore[valid-type]
        None, description="Tasks this one needs: names, or OSMO's {task: NAME}.")
    retries: int = 0
    retry_delay: float = Field(0.0, alias="retryDelay", description="Seconds between tries.")
    directives: Directives | None = Field(
        None, description="np, ngpu, memory (GB or 16Gi), walltime (hours or 1h30m), plus plugin "
        "keys.")
    args: list[Scalar] | None = Field(None, description="Arguments after an OSMO command list.")
    environment: dict[str, Scalar] | None = Field(
        None, description="Variables added to the task's environment.")
    files: list[TaskFileModel] | None = Field(None, description="Inline files written first.")
    outputs: list[dict[str, Any]] | None = Field(
        None, description="OSMO outputs, recorded (groupplug gives each task {{output}}).")
    image: str | None = Field(None, description="Recorded; host engines warn it was not used.")
    resource: str | None = Field(None, description="A name under workflow.resources.")

    EXPECTED = {
        "name": "a name", "command": "a shell command (text) or OSMO's list [program, arg, ...]",
        "command[]": "a program or an argument (text or a number)", "setup": "a shell command",
        "lead": "true or false", "inputs": "a list of task names or {task: NAME} entries",
        "inputs[]": "a task name or {task: NAME}", "retries": "a whole number",
        "retryDelay": "seconds (a number)", "directives": "a mapping of directive: value",
        "args": "a list of arguments", "args[]": "an argument (text or a number)",
        "environment": "a mapping of NAME: value", "environment.*": "a value (text or a number)",
        "files": "a list of {path, contents} entries", "outputs": "a list of OSMO outputs",
        "outputs[]": "an OSMO output mapping (url: ...)", "image": "an image name",
        "resource": "the name of a workflow.resources entry",
    }
    FIXES = {
        "inputs": "write inputs: [name, ...] or inputs: [{task: name}, ...]",
        "inputs[]": "write inputs: [name, ...] or inputs: [{task: name}, ...]",
        "directives": "write directives: {ngpu: 1, memory: 16GB}",
        "command": 'write command: "python train.py" (sh -c) or command: [python, train.py]',
        "args": 'write args: ["--rank", "0"]',
        "environment": "write environment: {NAME: value}",
    }
    MISSING = {"name": "give the task a name"}
    UNSUPPORTED = {
        "credentials": ("OSMO credentials are not supported: " + _HOST,
                        "set the variables with environment: or the engine's own secrets"),
        "volumeMounts": ("OSMO volume mounts are not supported: " + _HOST,
                         "use paths on the host and remove volumeMounts:"),
        "exitActions": ("OSMO exit actions are not supported",
                        "use retries: and retryDelay: instead"),
        "checkpoint": ("OSMO checkpointing is not supported",
                       "write checkpoints from the command and remove checkpoint:"),
        "privileged": ("privileged pods are not supported: " + _HOST, "remove privileged:"),
        "hostNetwork": ("hostNetwork is not supported: " + _HOST + " (on the host's network)",
                        "remove hostNetwork:"),
    }


def _member_tag(value: Any) -> str:
    return "reference" if isinstance(value, str) else "task"


Member = Annotated[
    Annotated[str, Tag("reference")] | Annotated[TaskModel, Tag("task")],
    Discriminator(_member_tag),
]


class GroupModel(_Model):
    """A group: members that start together, one lead, an optional barrier, nested groups."""

    name: str
    tasks: list[Member] | None = Field(
        None, description="Members: task definitions, or names of tasks defined elsewhere.")
    groups: list[GroupModel] | None = Field(None, description="Nested groups.")
    lead: str | None = Field(None, description="The lead member's name (or mark it lead: true).")
    barrier: bool = Field(True, description="Members start their main work together.")
    barrier_timeout: float | None = Field(None, alias="barrierTimeout",
                                          description="Seconds to wait at the barrier.")
    ignore_nonlead_status: bool = Field(True, alias="ignoreNonleadStatus",
                                        description="A non-lead failure does not fail the group.")
    directives: dict[str, Directives | None] | None = Field(
        None, description="Per member: directives replacing the member's own in this group.")
    upstream: list[str] | None = Field(None, description="Groups (or lone tasks) to wait for.")
    tooltip: str | None = None

    EXPECTED = {
        "name": "a name", "lead": "the name of the lead member", "barrier": "true or false",
        "barrierTimeout": "seconds (a number)", "ignoreNonleadStatus": "true or false",
        "directives": "a mapping of member: {...}", "directives.*": "a mapping of directive: value",
        "upstream": "a list of names", "upstream[]": "a group name", "tooltip": "text",
    }
    FIXES = {"upstream": "write upstream: [name, ...]",
             "directives.*": "write directives: {member: {ngpu: 1, memory: 16GB}}"}
    MISSING = {"name": "give the group a name"}


class ResourceModel(_Model):
    """OSMO's resource spec: ``cpu`` -> np, ``gpu`` -> ngpu, ``memory`` -> memory; the rest is
    recorded in ``workflow.resources`` and dumped back, not applied."""

    cpu: float | None = Field(None, description="Cores; becomes directive np (rounded up).")
    gpu: int | None = Field(None, description="GPUs; becomes directive ngpu.")
    memory: _text_or(float, "number") | None = Field(  # type: ignore[valid-type]
        None, description="16Gi, 512Mi, or GB; becomes directive memory.")
    storage: _text_or(float, "number") | None = Field(  # type: ignore[valid-type]
        None, description="Recorded.")
    platform: str | None = Field(None, description="Recorded.")
    nodes_excluded: list[str] | None = Field(None, alias="nodesExcluded",
                                             description="Recorded.")
    topology: list[dict[str, Any]] | None = Field(None, description="Recorded.")

    EXPECTED = {"cpu": "a number of cores", "gpu": "a whole number of GPUs",
                "memory": "an amount like 16Gi or 512Mi", "storage": "an amount like 10Gi",
                "platform": "a platform name", "nodesExcluded": "a list of node names",
                "topology": "a list of {key: ...} entries"}


class WorkflowModel(_Model):
    """The ``workflow:`` mapping."""

    name: str
    groups: list[GroupModel] | None = Field(None, description="Groups (OSMO's shape).")
    tasks: list[TaskModel] | None = Field(
        None, description="Tasks outside groups (each a group of its own) or shared by groups.")
    resources: dict[str, ResourceModel] | None = Field(
        None, description="OSMO's named resource specs; 'default' applies to tasks without "
        "resource:.")

    EXPECTED = {"name": "a name", "resources": "a mapping of name: {cpu, gpu, memory, ...}"}
    MISSING = {"name": "give the workflow a name: name: my-workflow"}
    UNSUPPORTED = {
        "pool": ("OSMO pools are not supported: groupplug runs on the engine you choose",
                 "remove pool: (Airflow pools and queues are task directives: pool, queue)"),
        "labels": ("OSMO pod labels are not supported", "remove labels: (a group's tooltip: "
                   "can describe it)"),
        "timeout": ("OSMO workflow timeouts are not supported",
                    "use directives: {walltime: 2h} on tasks and barrierTimeout: on groups"),
    }


class WorkflowFile(_Model):
    """A groupplug workflow file (OSMO's shape)."""

    model_config = ConfigDict(extra="forbid", strict=True, title="groupplug workflow")

    workflow: WorkflowModel


# -- the JSON Schema -------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a workflow file, generated from the models above."""
    schema = WorkflowFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def json_schema_text() -> str:
    """The schema as the packaged ``workflow.schema.json`` holds it."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


# -- errors as problems ----------------------------------------------------------------------


def field_problems(model: type[_Model], data: Any, prefix: str) -> list[Problem]:
    """Every field-level problem of ``data`` against ``model``; paths start at ``prefix``."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return _problems(model, exc.errors(), prefix)
    return []


def _problems(model: type[_Model], errors: list[Any], prefix: str) -> list[Problem]:
    problems: dict[str, Problem] = {}
    refused: set[str] = set()  # mappings with a refused OSMO field: their "missing" is noise
    pending_missing: list[tuple[str, Problem]] = []
    for error in errors:
        owner, alias, suffix, path = _resolve(model, error["loc"], prefix)
        if path in problems:
            continue  # one problem per field (a union reports once per branch)
        kind = error["type"]
        if error["loc"] and error["loc"][-1] == "[key]":  # a mapping key that is not text
            path = path.removesuffix(".[key]")
            problems[path] = Problem(path, f"the name {error['input']!r} must be text",
                                     f'write it quoted: "{error["input"]}"')
        elif kind == "extra_forbidden":
            name = str(error["loc"][-1])
            if owner is not None and name in owner.UNSUPPORTED:
                message, fix = owner.UNSUPPORTED[name]
                problems[path] = Problem(path, message, fix)
                refused.add(path.rsplit(".", 1)[0])
                continue
            allowed = _aliases(owner) if owner is not None else []
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            problems[path] = Problem(path, "unknown field", f"{hint}allowed: {', '.join(allowed)}")
        elif kind == "missing":
            fix = owner.MISSING.get(alias or "", "") if owner is not None else ""
            pending_missing.append((path, Problem(path, "missing", fix)))
        elif kind in ("model_type", "model_attributes_type") and not (
                owner is not None and f"{alias}{suffix}" in owner.EXPECTED):
            target = _target_model(model, error["loc"])
            fields = ", ".join(_aliases(target)) if target is not None else "its fields"
            problems[path] = Problem(path, f"expected a mapping, found a {_kind(error['input'])}",
                                     f"write it as 'key: value' lines with the fields {fields}")
        elif kind == "list_type" and owner is not None and f"{alias}{suffix}" not in owner.EXPECTED:
            problems[path] = Problem(path, f"expected a list, found a {_kind(error['input'])}",
                                     f"write each entry of {alias}: on its own '- ' line")
        else:
            key = f"{alias}{suffix}"
            expected = owner.EXPECTED.get(key) if owner is not None else None
            value = error["input"]
            found = f"{_kind(value)} {value!r}"
            message = f"expected {expected}, found {found}" if expected else \
                f"{error['msg'].lower()}, found {found}"
            fix = owner.FIXES.get(key, "") if owner is not None else ""
            problems[path] = Problem(path, message, fix)
    for path, problem in pending_missing:
        if path not in problems and path.rsplit(".", 1)[0] not in refused:
            problems[path] = problem
    return list(problems.values())


def _aliases(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _field(model: type[BaseModel], alias: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == alias:
            return info
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _branches(annotation: Any) -> dict[str, Any] | None:
    """A union's members by the name pydantic puts in an error's location (tag or type name)."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) not in (Union, types.UnionType):
        return None
    found: dict[str, Any] = {}
    for member in typing.get_args(annotation):
        tag = next((m.tag for m in getattr(member, "__metadata__", ()) if isinstance(m, Tag)),
                   None)
        bare = _strip(member)
        name = tag or getattr(bare, "__name__", str(bare))
        found[name] = bare
    return found


def _unwrap(annotation: Any, part: Any) -> tuple[Any, bool]:
    """Step through unions at one loc part: ``(annotation, True)`` when ``part`` named a branch
    (a tag or a type name, not a path element); ``X | None`` unwraps to ``X``."""
    while (branches := _branches(annotation)) is not None:
        if isinstance(part, str) and part in branches:
            return branches[part], True
        non_none = [v for v in branches.values() if v is not type(None)]
        if len(non_none) != 1:
            break
        annotation = non_none[0]
    return _strip(annotation), False


def _walk(model: type[_Model], loc: tuple[Any, ...]) -> tuple[list[tuple[Any, str, Any]], Any]:
    """Follow a pydantic loc through the model's annotations: ``(steps, annotation reached)``.

    Each step is ``(part, kind, holder)``: kind ``field`` (holder: the model owning it), ``list``,
    ``dict``, or ``other`` (an extra key, or below ``Any``). Union tags in ``loc`` are skipped.
    """
    steps: list[tuple[Any, str, Any]] = []
    current: Any = model
    for part in loc:
        current, consumed = _unwrap(current, part)
        if consumed:
            continue
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, _Model) and isinstance(part, str):
            info = _field(current, part)
            steps.append((part, "field", current))
            current = info.annotation if info is not None else Any
        elif origin is list and isinstance(part, int):
            steps.append((part, "list", current))
            current = typing.get_args(current)[0]
        elif origin is dict:
            steps.append((part, "dict", current))
            current = typing.get_args(current)[1]
        else:
            steps.append((part, "other", current))
            current = Any
    return steps, current


def _resolve(model: type[_Model], loc: tuple[Any, ...], prefix: str
             ) -> tuple[type[_Model] | None, str | None, str, str]:
    """``(model owning the field, field alias, suffix past it, YAML path)`` of a pydantic loc.

    ``suffix`` is ``[]``/``.*`` per list entry/mapping value below the field, so ``EXPECTED`` can
    describe an entry apart from the whole field.
    """
    path = prefix
    owner: type[_Model] | None = None
    alias: str | None = None
    suffix = ""
    for part, kind, holder in _walk(model, loc)[0]:
        if kind == "field":
            owner, alias, suffix = holder, part, ""
            path = f"{path}.{part}"
        elif kind == "list":
            path, suffix = f"{path}[{part}]", suffix + "[]"
        elif kind == "dict":
            path, suffix = f"{path}.{part}", suffix + ".*"
        else:  # not a field we know: name it, nothing below it is described
            path = f"{path}.{part}" if isinstance(part, str) else f"{path}[{part}]"
    return owner, alias, suffix, path


def _target_model(model: type[_Model], loc: tuple[Any, ...]) -> type[_Model] | None:
    """The model a location should have held (for "expected a mapping ... with the fields")."""
    current = _walk(model, loc)[1]
    current = _strip(current)
    branches = _branches(current)
    if branches is not None:
        models = [v for v in branches.values() if isinstance(v, type) and issubclass(v, _Model)]
        current = models[0] if len(models) == 1 else current
    return current if isinstance(current, type) and issubclass(current, _Model) else None


def _kind(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


__all__ = ["GroupModel", "ResourceModel", "TaskFileModel", "TaskInput", "TaskModel",
           "WorkflowFile", "WorkflowModel", "field_problems", "json_schema", "json_schema_text"]
