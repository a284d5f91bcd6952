"""One member's life on the local engine: setup, arrive, wait for release, main work, retries.

The member thread only reports events; the runner's loop decides (through the status engine)
and controls the member through :meth:`LocalMember.release`, :meth:`stop` and :meth:`restart`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from ._process import ShellProcess
from ._pyprocess import PythonProcess
from .launch import LaunchError, prepare
from .spec import Task
from .status import Event, EventKind

Emit = Callable[[Event], None]


class LocalMember:
    def __init__(self, task: Task, group_path: str, log_path: Path, emit: Emit,
                 run_dir: Path | None = None):
        self.task = task
        self.group_path = group_path
        self.log_path = log_path
        #: The run's directory ({{output}}, {{input:N}}; see :mod:`groupplug.launch`).
        self.run_dir = run_dir if run_dir is not None else log_path.parent
        self._emit = emit
        self._released = threading.Event()
        self._wakeup = threading.Event()  # interrupts a retry delay
        self._lock = threading.Lock()
        self._process: ShellProcess | PythonProcess | None = None
        self._stopped = False
        self._restart_epoch: int | None = None
        self.inputs_ready = threading.Event()
        self.inputs_failed: str | None = None
        self.setup_finished_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: object = None  # what a Python member's fn returned
        self.thread = threading.Thread(
            target=self._run, name=f"groupplug:{group_path}.{task.name}", daemon=True
        )

    # ------------------------------------------------------------------ control (runner side)
    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        """Stop for good: kill whatever runs (setup or main) and end the thread."""
        with self._lock:
            self._stopped = True
            process = self._process
        self.finished_at = self.finished_at or time.time()
        self._released.set()
        self._wakeup.set()
        self.inputs_ready.set()
        if process is not None:
            process.kill()

    def kill_now(self) -> None:
        """Stop for good, SIGKILL without grace (a second Ctrl-C)."""
        with self._lock:
            self._stopped = True
            process = self._process
        if process is not None:
            process.kill(grace=0)

    def restart(self, epoch: int) -> None:
        """Kill the main work (if running) and arrive again for barrier ``epoch``."""
        with self._lock:
            self._restart_epoch = epoch
            process = self._process
        self._released.set()
        self._wakeup.set()
        if process is not None:
            process.kill()

    # ------------------------------------------------------------------ the member thread
    def _run(self) -> None:
        if self._prepare():
            self._main_loop()

    def _prepare(self) -> bool:
        """Wait for inputs, run the setup step; False when the member ended before arriving."""
        self.inputs_ready.wait()
        if self._stopped:
            return False
        if self.inputs_failed:
            self._finish(EventKind.UPSTREAM_FAILED, self.inputs_failed)
            return False
        if self.task.setup or self.task.setup_fn:
            self._emit(Event(EventKind.SETUP_STARTED, self.task.name))
            rc, why = self._work("setup", self.task.setup_fn, "setup")
            if self._stopped:
                return False
            if rc != 0:
                self._finish(EventKind.FAILED, f"setup failed ({why})")
                return False
        self.setup_finished_at = time.time()
        return True

    def _main_loop(self) -> None:
        name = self.task.name
        attempts = failures = 0  # a restart ordered by the group is not a failure
        epoch = -1
        while True:
            self._released.clear()
            self._emit(Event(EventKind.ARRIVED, name, epoch=epoch))
            self._released.wait()
            if self._stopped:
                return
            restart = self._take_restart()
            if restart is not None:
                epoch = restart
                continue
            attempts += 1
            self.started_at = time.time()
            self._emit(Event(EventKind.STARTED, name))
            rc, why = self._work("main", self.task.fn, f"attempt {attempts}")
            if self._stopped:
                return
            restart = self._take_restart()
            if restart is not None:
                epoch = restart
                continue
            if rc == 0:
                self._finish(EventKind.SUCCEEDED, "")
                return
            what = "fn" if self.task.fn is not None else "command"
            failures += 1
            if failures > self.task.retries:
                self._finish(EventKind.FAILED, f"{what} failed ({why})")
                return
            reason = f"{what} failed ({why}); retry {failures} of {self.task.retries}"
            self._emit(Event(EventKind.RETRYING, name, reason))
            self._wakeup.clear()
            if self.task.retry_delay:
                self._wakeup.wait(self.task.retry_delay)
            if self._stopped:
                return
            restart = self._take_restart()
            epoch = restart if restart is not None else -1

    def _take_restart(self) -> int | None:
        """The epoch of a pending restart, consuming it; None when there is none."""
        with self._lock:
            epoch, self._restart_epoch = self._restart_epoch, None
        return epoch

    def _finish(self, kind: EventKind, reason: str) -> None:
        self.finished_at = time.time()
        self._emit(Event(kind, self.task.name, reason))

    def _work(self, step: str, fn: object, label: str) -> tuple[int, str]:
        """Run the step's command or the Python callable; ``(exit code, why it failed)``."""
        task = self.task
        if fn is None and task.command is None and not task.argv and step == "main":
            # validation refuses such a task: never run a stub
            raise RuntimeError(f"{self.group_path}.{task.name} has nothing to run")
        launch = None
        if fn is None:
            try:  # tokens, files and the image warning, where the member runs
                launch = prepare(task, run_dir=self.run_dir, step=step)
            except LaunchError as error:
                return self._cannot_start(label, str(error))
        what = launch.describe() if launch else getattr(fn, "__qualname__", repr(fn))
        with open(self.log_path, "a") as log:
            log.write(f"--- groupplug: {label}: {what}\n")
        with self._lock:
            if self._stopped:
                return -1, "stopped"
            try:
                if launch is not None:
                    self._process = ShellProcess(launch, self.log_path)
                else:
                    self._process = PythonProcess(fn, self.log_path)  # type: ignore[arg-type]
            except LaunchError as error:
                return self._cannot_start(label, str(error))
            process = self._process
        rc = process.wait()
        with self._lock:
            self._process = None
        if isinstance(process, PythonProcess):
            if label != "setup" and rc == 0:
                self.result = process.result
            return rc, process.error or f"exit {rc}"
        return rc, f"exit {rc}"

    def _cannot_start(self, label: str, message: str) -> tuple[int, str]:
        """A step that cannot start fails like a command that exits 127 (not found)."""
        with open(self.log_path, "a") as log:
            log.write(f"--- groupplug: {label}: cannot start: {message}\n")
        return 127, message
