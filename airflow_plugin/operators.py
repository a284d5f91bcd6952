"""groupplug's own operators: a shell member and a member's setup step.

:class:`ShellOperator` is what ``member(name, bash_command)`` and the YAML front door's
``command`` become: one more operator, made a member like any other (``wrap.install``). Its
command runs in its own process group and ``on_kill`` ends the whole group, so stopping it
leaves nothing running on the worker. Unlike ``BashOperator`` a command ending in ``.sh`` is a
command, not a template file to look up (YAML commands like ``./pull_image.sh`` stay commands).

:class:`GroupSetupOperator` is a member's setup (before the barrier): a shell command, a Python
callable, or nothing (it then only records the member's arrival). It stops early when its
member's fate is already decided by the group (the lead finished, the barrier timed out).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from groupplug.shell import stop as stop_process
from groupplug.states import MemberState

from . import naming
from .member_run import POLL_INTERVAL, GroupReader
from .stopper import GroupStop, Stopper
from .watch import GroupInfo


class ShellOperator(BaseOperator):
    """Runs ``command`` with ``sh -c`` in its own process group; output to the task log."""

    template_fields: Sequence[str] = ("command",)
    ui_color = "#fdf2d0"

    def __init__(self, *, command: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.command = command
        self._proc: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> None:
        rc = run_shell(self, self.command)
        if rc != 0:
            raise AirflowException(f"{self.task_id}: command exited with {rc}")

    def on_kill(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)


def run_shell(owner: Any, command: str) -> int:
    """Run ``command`` for ``owner`` (which keeps it as ``_proc`` for ``on_kill``)."""
    proc = subprocess.Popen(
        ["sh", "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, text=True, errors="replace")
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


class GroupSetupOperator(BaseOperator):
    """A member's setup: ``command`` (shell), ``callable`` (Python) or nothing; then arrival."""

    template_fields: Sequence[str] = ("command",)
    ui_color = "#e8f0fe"

    def __init__(
        self, *, member: str, info: Mapping[str, Any], command: str | None = None,
        python_callable: Callable[..., Any] | None = None, **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.member = member
        self.info = dict(info)
        self.command = command
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
        except BaseException:
            if not stopper.fired:
                self._fail(context, "setup failed")
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
        return run_shell(self, self.command or "")

    def _fail(self, context: Any, reason: str) -> None:
        context["ti"].xcom_push(key=naming.XCOM_SETUP,
                                value={"stopped_at": time.time(), "reason": reason})

    def on_kill(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
