"""groupplug's own operators: a shell member and a member's setup step.

:class:`ShellOperator` is what ``member(name, bash_command)`` and the YAML front door's
``command`` become: one more operator, made a member like any other (``wrap.install``). Its
command runs in its own process group and ``on_kill`` ends the whole group, so stopping it
leaves nothing running on the worker. Unlike ``BashOperator`` a command ending in ``.sh`` is a
command, not a template file to look up (YAML commands like ``./pull_image.sh`` stay commands).

:class:`GroupSetupOperator` is a member's setup (before the barrier): a shell command, a Python
callable, or nothing (it then only records the member's arrival). It stops early when its
member's fate is already decided by the group (the lead finished, the barrier timed out).

Both run what :func:`groupplug.launch.prepare` makes of their task (``sh -c`` or OSMO's argument
vector, environment, inline files, ``{{output}}``/``{{input:N}}`` under the run's directory
:func:`run_dir`), with the task's fields as plain data (``launch``, :func:`launch_fields`).
OSMO's tokens are kept from Jinja (Airflow would render ``{{output}}`` as an empty string);
other templates in a command (``{{ ds }}``) render as in any operator.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from groupplug.launch import TOKEN, Launch, LaunchError, engine_run_dir, prepare
from groupplug.shell import stop as stop_process
from groupplug.spec import FrozenDict, Task, TaskFile
from groupplug.states import MemberState

from . import naming
from ._compat import AirflowException, AirflowFailException
from .member_run import POLL_INTERVAL, GroupReader
from .stopper import GroupStop, Stopper
from .watch import GroupInfo


def launch_fields(task: Task, cwd: str | None = None) -> dict[str, Any]:
    """What :func:`groupplug.launch.prepare` reads of ``task`` besides its commands, as plain
    data: operators are copied and serialized, spec objects are not made for that. ``cwd`` is
    the directory the member runs in (None: the worker's own)."""
    return {"name": task.name, "cwd": cwd, "argv": None if task.argv is None else list(task.argv),
            "args": list(task.args), "environment": {str(k): str(v) for k, v in
                                                     task.environment.items()},
            "files": [[f.path, f.contents] for f in task.files], "image": task.image,
            "inputs": list(task.inputs)}


def run_dir(context: Any) -> Path:
    """This DAG run's directory (``{{output}}``): one per dag_id and run_id, shared by every
    task of the run on this host (or on every host, with a shared ``GROUPPLUG_DATA_DIR``)."""
    ti = context["ti"]
    return engine_run_dir("airflow", ti.dag_id, ti.run_id)


class _LaunchesTask:
    """An operator that runs a step of a groupplug task through :mod:`groupplug.launch`."""

    task_id: str
    launch: dict[str, Any]
    command: str | None

    def render_template(self, content: Any, context: Any, jinja_env: Any = None,
                        seen_oids: Any = None) -> Any:
        if isinstance(content, str):  # {{output}} and {{input:N}} are groupplug's, not Jinja's
            content = TOKEN.sub(_raw_if_ours, content)
        return super().render_template(content, context, jinja_env, seen_oids)  # type: ignore[misc]

    def _prepare(self, context: Any, step: str, setup: str | None = None) -> Launch:
        fields = self.launch
        main = None if step == "setup" else self.command
        task = Task(
            name=fields.get("name") or self.task_id.rsplit(".", 1)[-1], command=main,
            setup=setup, argv=None if fields.get("argv") is None else tuple(fields["argv"]),
            args=tuple(fields.get("args", ())),
            environment=FrozenDict(fields.get("environment", {})),
            files=tuple(TaskFile(p, c) for p, c in fields.get("files", ())),
            image=fields.get("image"), inputs=tuple(fields.get("inputs", ())))
        try:
            return prepare(task, run_dir=run_dir(context), step=step, cwd=fields.get("cwd"))
        except LaunchError as error:
            raise AirflowException(f"{self.task_id}: {error}") from None


def _raw_if_ours(match: Any) -> str:
    name = match.group(1).strip()
    if name == "output" or name.startswith("input:"):
        return "{% raw %}" + match.group(0) + "{% endraw %}"
    return match.group(0)


class ShellOperator(_LaunchesTask, BaseOperator):
    """Runs ``command`` with ``sh -c`` (or OSMO's argument vector, ``launch["argv"]`` plus
    ``launch["args"]``, with no shell) in its own process group; output to the task log."""

    template_fields: Sequence[str] = ("command",)
    ui_color = "#fdf2d0"

    def __init__(self, *, command: str | None = None, launch: Mapping[str, Any] | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.command = command
        self.launch = dict(launch or {})
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> None:
        rc = run_shell(self, self._prepare(context, "main"))
        if rc != 0:
            raise AirflowException(f"{self.task_id}: command exited with {rc}")

    def on_kill(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)


def run_shell(owner: Any, command: str | Launch) -> int:
    """Run ``command`` for ``owner`` (which keeps it as ``_proc`` for ``on_kill``)."""
    from groupplug.launch import popen

    try:
        proc = popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                     errors="replace")
    except LaunchError as error:
        raise AirflowException(f"{owner.task_id}: {error}") from None
    owner._proc = proc
    reader = threading.Thread(target=_pump, args=(proc, owner.log), daemon=True)
    reader.start()
    try:
        rc = proc.wait()
    except BaseException:
        stop_process(proc)  # stopped or timed out: take the command down with the task
        raise
    reader.join(5)
    return rc


def _pump(proc: subprocess.Popen[str], log: Any) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        log.info("%s", line.rstrip("\n"))


class GroupSetupOperator(_LaunchesTask, BaseOperator):
    """A member's setup: ``command`` (shell), ``callable`` (Python) or nothing; then arrival."""

    template_fields: Sequence[str] = ("command",)
    ui_color = "#e8f0fe"

    def __init__(
        self, *, member: str, info: Mapping[str, Any], command: str | None = None,
        python_callable: Callable[..., Any] | None = None,
        launch: Mapping[str, Any] | None = None, **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.member = member
        self.info = dict(info)
        self.command = command
        self.launch = {"name": member, **(launch or {})}
        self.python_callable = python_callable
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        if not self.command and self.python_callable is None:
            ti.xcom_push(key=naming.XCOM_SETUP, value={"finished_at": time.time()})
            return
        reader = GroupReader(GroupInfo.from_dict(self.info), ti, self.member)
        verdict = reader.poll()
        if verdict is None:
            verdict = self._run_watched(reader, context)
        if verdict is None:
            ti.xcom_push(key=naming.XCOM_SETUP, value={"finished_at": time.time()})
            return
        reason = verdict.reason or "stopped by its group"
        self.log.warning("groupplug: setup of %s stopped: %s", self.member, reason)
        ti.xcom_push(key=naming.XCOM_SETUP, value={"stopped_at": time.time(), "reason": reason})
        if verdict.state is not MemberState.SUCCEEDED:
            raise AirflowFailException(f"setup stopped: {reason}")

    def _run_watched(self, reader: GroupReader, context: Any) -> Any:
        stopper = Stopper(self.on_kill)
        verdicts: list[Any] = []
        done = threading.Event()

        def watch() -> None:
            while not done.wait(POLL_INTERVAL):
                try:
                    verdict = reader.poll()
                except Exception:  # noqa: BLE001 - one failed read must not end the watch
                    continue
                if verdict is not None and verdict.kind == "stop":
                    verdicts.append(verdict)
                    stopper.stop()
                    return

        watcher = threading.Thread(target=watch, daemon=True, name="groupplug-setup-watch")
        try:
            with stopper:
                watcher.start()
                try:
                    rc = self._run(context)
                finally:
                    done.set()
        except GroupStop:
            rc = None
        except BaseException as error:
            if not stopper.fired:
                self._fail(context, f"setup failed ({error})" if isinstance(
                    error, AirflowException) else "setup failed")
                raise
            rc = None
        watcher.join(5)
        if stopper.fired and verdicts:
            stopper.kill()
            return verdicts[0]
        if rc:
            self._fail(context, f"setup failed (exit {rc})")
            raise AirflowFailException(f"setup failed (exit {rc})")
        return None

    def _run(self, context: Any) -> int:
        if self.python_callable is not None:
            self.python_callable()
            return 0
        return run_shell(self, self._prepare(context, "setup", setup=self.command or ""))

    def _fail(self, context: Any, reason: str) -> None:
        context["ti"].xcom_push(key=naming.XCOM_SETUP,
                                value={"stopped_at": time.time(), "reason": reason})

    def on_kill(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
