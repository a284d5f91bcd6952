"""Member commands in their own process group, so stopping a member stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from .launch import Launch, popen

#: Seconds a stopped command gets between SIGTERM and SIGKILL.
KILL_GRACE = 2.0


class ShellProcess:
    """A :class:`~groupplug.launch.Launch` (a string: ``sh -c`` it), output appended to
    ``log_path``. A program that cannot start raises :class:`~groupplug.launch.LaunchError`."""

    def __init__(self, command: str | Launch, log_path: Path):
        self._lock = threading.Lock()
        self._killed = False
        with open(log_path, "ab") as log:
            self.popen = popen(command, stdout=log, stderr=subprocess.STDOUT)

    def wait(self) -> int:
        return self.popen.wait()

    @property
    def killed(self) -> bool:
        return self._killed

    def kill(self) -> None:
        """Terminate the whole process group; SIGKILL what is left after :data:`KILL_GRACE`."""
        with self._lock:
            if self._killed or self.popen.poll() is not None:
                self._killed = True
                return
            self._killed = True
        _signal_group(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
