"""What one step of a member executes, the same on every engine: argv, environment, directory.

Every engine calls :func:`prepare` where the member runs (the local runner's member thread, the
Airflow task process, the Prefect task), just before each step (the setup, every attempt of the
command), and starts the :class:`Launch` it returns with :func:`popen`.

- ``command`` (one string) runs as ``sh -c command``; OSMO's ``command: [prog, ...]`` plus
  ``args`` runs as that argument vector, with no shell: ``$HOME`` or ``;`` in an argument stay
  as written.
- ``environment`` is added to the environment the engine gives the member.
- OSMO's tokens: ``{{output}}`` is this task's output directory, ``RUN_DIR/outputs/<task>``
  (created before the task starts); ``{{input:N}}`` is the output directory of the task's
  N-th input (``inputs[N]``), which must already exist. They are resolved in the command,
  ``argv``, ``args``, the setup command, environment values and inline files' paths and
  contents. Any other ``{{...}}`` is an error naming the task and the token (the loader refuses
  them first; this is the last line). The run directory is one per workflow run, shared by the
  members of that run: :func:`engine_run_dir` for Airflow and Prefect, the run's log directory
  on the local engine. Members on machines that do not share it (Celery workers on other hosts
  without a shared ``GROUPPLUG_DATA_DIR``) cannot see their inputs' directories: the member
  then fails, naming the input task and the path, instead of reading a wrong one.
- ``files`` are written before every step (OSMO writes them into each new container, a retry
  included). Members run where the run was started (``cwd``: on every engine ``groupplug
  run`` starts; in a DAG of your own, the ``cwd=`` given to ``dag_from_yaml``/
  ``render_workflow``, else the worker's directory), except a task with a relative file
  path: as in OSMO, where each task has a container of its own, it runs in a directory of its
  own, ``RUN_DIR/work/<task>``, where its relative files are written (``$GROUPPLUG_START_DIR``
  names where the run started). So two members writing ``train.py`` never race, and no file
  of yours is replaced or left behind by a relative path. ``../x`` is refused (write an
  absolute path to mean a place outside); an absolute path is written where it says, and
  replacing an existing file there whose contents differ is logged as a warning.
- ``outputs`` are not uploaded (OSMO uploads them): each task that has some says so once per
  run, naming where its results are.
- ``image`` is not used (commands run on this host): the first member of a run that names an
  image logs one warning line for it on the ``groupplug.run`` logger (a marker file in the run
  directory makes it once per run across processes).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import GroupplugError
from .spec import Task

log = logging.getLogger("groupplug.run")

#: Where Airflow and Prefect runs keep their run directories (outputs, markers); default
#: ``<temp dir>/groupplug-data``. Members on several machines need it on a shared filesystem.
DATA_DIR_ENV = "GROUPPLUG_DATA_DIR"
#: Set for a member that runs in its own directory: the directory the run started in.
START_DIR_ENV = "GROUPPLUG_START_DIR"
TOKEN = re.compile(r"\{\{(.*?)\}\}")
_INPUT = re.compile(r"input:(\d+)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class LaunchError(GroupplugError):
    """A member step cannot start: an unknown token, a missing input directory, a bad file,
    a program that does not exist. The engine fails the step with this message."""


@dataclass(frozen=True)
class Launch:
    """An argument vector, the full environment and the working directory of one step."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)

    @classmethod
    def shell(cls, command: str) -> Launch:
        """``sh -c command`` with this process's environment and directory."""
        return cls(("sh", "-c", command))

    def describe(self) -> str:
        """The step as a user wrote it: the shell command, or the argument vector."""
        if self.argv[:2] == ("sh", "-c") and len(self.argv) == 3:
            return self.argv[2]
        return shlex.join(self.argv)


def popen(launch: Launch | str, **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``launch`` (a string: ``sh -c`` it); a program that cannot start is a LaunchError.

    The process gets its own session, so stopping it can end everything it started; on POSIX
    it runs under :mod:`groupplug._guard`, which stops that session's process group when the
    process that started it dies (a killed task runner or worker leaves no orphan).
    """
    if isinstance(launch, str):
        launch = Launch.shell(launch)
    argv = list(launch.argv)
    if os.name == "posix":
        _check_executable(launch)
        argv = [sys.executable, "-I", "-S", _GUARD, str(os.getpid()), *argv]
    try:
        return subprocess.Popen(argv, env=dict(launch.env), cwd=launch.cwd,
                                stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
    except OSError as error:
        raise LaunchError(f"cannot run {launch.argv[0]!r}: {error.strerror or error}") from None


_GUARD = str(Path(__file__).with_name("_guard.py"))


def _check_executable(launch: Launch) -> None:
    """The guard execs the program; a missing one is refused here, as Popen refused it."""
    program = launch.argv[0]
    if os.sep in program:
        found = os.path.join(launch.cwd or os.getcwd(), program)
        if not os.path.isfile(found):
            raise LaunchError(f"cannot run {program!r}: No such file or directory")
        if not os.access(found, os.X_OK):
            raise LaunchError(f"cannot run {program!r}: Permission denied")
    elif shutil.which(program, path=launch.env.get("PATH", os.defpath)) is None:
        raise LaunchError(f"cannot run {program!r}: No such file or directory")


def data_dir() -> Path:
    """``$GROUPPLUG_DATA_DIR``, or ``groupplug-data`` in the temporary directory."""
    configured = os.environ.get(DATA_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "groupplug-data"


def engine_run_dir(engine: str, *keys: str) -> Path:
    """The run directory of one run of an engine, e.g. ``("airflow", dag_id, run_id)``."""
    return data_dir().joinpath(engine, *(_UNSAFE.sub("_", k) or "_" for k in keys))


def member_work_dir(run_dir: str | Path, task_name: str) -> Path:
    """Where a task with relative ``files:`` runs and finds them in this run."""
    return Path(run_dir) / "work" / task_name


def output_dir(run_dir: str | Path, task_name: str) -> Path:
    """Where ``{{output}}`` of ``task_name`` points in this run."""
    return Path(run_dir) / "outputs" / task_name


def prepare(task: Task, *, run_dir: str | Path, step: str = "main",
            cwd: str | Path | None = None) -> Launch:
    """The :class:`Launch` of ``task``'s ``step`` (``"main"`` or ``"setup"``), files written.

    Raises :class:`LaunchError` naming the task (and the token, input or file) when the step
    cannot start as written.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    if not where.is_dir():
        raise LaunchError(f"task {task.name!r}: its working directory {where} does not exist "
                          "here (the run started in it on another machine?)")
    tokens = _Tokens(task, Path(run_dir))
    if step == "setup":
        if task.setup is None:
            raise LaunchError(f"task {task.name!r} has no setup command")
        argv: tuple[str, ...] = ("sh", "-c", tokens.resolve(task.setup, "setup"))
    elif task.argv:
        argv = tuple(tokens.resolve(a, f"command[{i}]") for i, a in enumerate(task.argv))
        argv += tuple(tokens.resolve(a, f"args[{i}]") for i, a in enumerate(task.args))
    elif task.command is not None:
        argv = ("sh", "-c", tokens.resolve(task.command, "command"))
    else:
        raise LaunchError(f"task {task.name!r} has nothing to run: give it a command")
    env = dict(os.environ)
    env.update({str(k): tokens.resolve(str(v), f"environment.{k}")
                for k, v in task.environment.items()})
    tokens.output()  # created whether or not this step names it: inputs check for it
    if any(not Path(tokens.resolve(f.path, f"files[{i}].path")).is_absolute()
           for i, f in enumerate(task.files)):
        env[START_DIR_ENV] = str(where)
        where = member_work_dir(run_dir, task.name)
        where.mkdir(parents=True, exist_ok=True)
    _write_files(task, tokens, where)
    if task.image:
        _warn_image(task, Path(run_dir))
    if task.outputs:
        _warn_outputs(task, Path(run_dir))
    return Launch(argv, env, str(where))


class _Tokens:
    def __init__(self, task: Task, run_dir: Path):
        self.task, self.run_dir = task, run_dir

    def output(self) -> str:
        path = output_dir(self.run_dir, self.task.name)
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def input(self, index: int, token: str, field_name: str) -> str:
        inputs = self.task.inputs
        if index >= len(inputs):
            raise LaunchError(
                f"task {self.task.name!r}: {field_name} names {token} but the task has "
                f"{len(inputs)} input{'s' if len(inputs) != 1 else ''}"
                f"{' (' + ', '.join(inputs) + ')' if inputs else ''}; "
                "add the task it reads to its inputs")
        path = output_dir(self.run_dir, inputs[index])
        if not path.is_dir():
            raise LaunchError(
                f"task {self.task.name!r}: {token} is the output directory of task "
                f"{inputs[index]!r}, {path}, which does not exist here: {inputs[index]!r} did "
                "not run in this run on a filesystem this member sees (members on other "
                f"machines need a shared ${DATA_DIR_ENV})")
        return str(path)

    def resolve(self, text: str, field_name: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name == "output":
                return self.output()
            found = _INPUT.fullmatch(name)
            if found:
                return self.input(int(found.group(1)), match.group(0), field_name)
            raise LaunchError(
                f"task {self.task.name!r}: {field_name} holds {match.group(0)}, a token "
                "groupplug does not resolve; use {{output}} or {{input:N}}, or write the "
                "value itself")

        return TOKEN.sub(one, text)


def _write_files(task: Task, tokens: _Tokens, cwd: Path) -> None:
    for index, item in enumerate(task.files):
        name = tokens.resolve(item.path, f"files[{index}].path")
        contents = tokens.resolve(item.contents, f"files[{index}].contents")
        path = Path(name)
        if not path.is_absolute():
            path = cwd / path
            if not path.resolve().is_relative_to(cwd.resolve()):
                raise LaunchError(
                    f"task {task.name!r}: files[{index}].path {name!r} leaves the working "
                    f"directory {cwd}; write an absolute path to put a file outside it")
        if path.is_dir():
            raise LaunchError(f"task {task.name!r}: files[{index}].path {str(path)!r} is a "
                              "directory; name a file")
        if path.exists():
            old = path.read_text(errors="replace")
            if old == contents:
                continue
            log.warning("task %s: files[%d]: replacing %s (its contents differed)",
                        task.name, index, path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(contents)
        except OSError as error:
            raise LaunchError(f"task {task.name!r}: cannot write files[{index}] to {path}: "
                              f"{error.strerror or error}") from None


def _first_in_run(run_dir: Path, kind: str, key: str) -> bool:
    """True for the one process of the run that first claims ``key`` (O_EXCL on a marker)."""
    marks = run_dir / ".groupplug" / kind
    marks.mkdir(parents=True, exist_ok=True)
    mark = marks / hashlib.sha256(key.encode()).hexdigest()[:20]
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _warn_outputs(task: Task, run_dir: Path) -> None:
    # OSMO uploads outputs (datasets, URLs); groupplug does not: say so rather than drop them.
    if _first_in_run(run_dir, "outputs", task.name):
        log.warning("task %s: outputs %s were not uploaded: groupplug keeps a task's results in "
                    "its {{output}} directory on this host (%s); copy them from there",
                    task.name, ", ".join(_describe_output(o) for o in task.outputs),
                    output_dir(run_dir, task.name))


def _describe_output(output: Mapping[str, Any]) -> str:
    for kind, value in output.items():
        name = value.get("name") if isinstance(value, Mapping) else value
        return f"{kind} {name}" if name else str(kind)
    return "{}"


def _warn_image(task: Task, run_dir: Path) -> None:
    if _first_in_run(run_dir, "images", task.image or ""):
        log.warning("image %s was not used: groupplug runs commands on this host (task %s "
                    "names it)", task.image, task.name)
