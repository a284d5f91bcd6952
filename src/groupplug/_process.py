"""Member commands in their own process group, so stopping a member stops everything it started.

A member's command ends when its ``sh -c`` ends, like a container's: whatever it left running in
its process group (a background job, or every child when ``sh`` itself was killed) is stopped
then, so no member leaves an orphan behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
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
        """Wait for ``sh`` to end, stop what it left in its group, return its exit code."""
        pid = self.popen.pid
        if hasattr(os, "waitid"):
            # Wait without reaping: while sh is an unreaped zombie its pid (the group's id)
            # cannot be reused, so signalling the group reaches only what this member started.
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:  # already reaped by a concurrent kill()
                return self.popen.wait()
            stop_group(pid, leader=pid)
        return self.popen.wait()

    @property
    def killed(self) -> bool:
        return self._killed

    def kill(self, grace: float = KILL_GRACE) -> None:
        """Terminate the whole process group; SIGKILL what is left after ``grace`` seconds
        (at once when 0, even while another caller waits out its grace)."""
        if grace <= 0:
            _signal_group(self.popen.pid, signal.SIGKILL)
        with self._lock:
            if self._killed or self.popen.poll() is not None:
                self._killed = True
                return
            self._killed = True
        _signal_group(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


def stop_group(pgid: int, leader: int, grace: float = KILL_GRACE) -> None:
    """SIGTERM process group ``pgid`` (its ``leader`` already ended, not yet reaped), then
    SIGKILL whatever still runs in it after ``grace`` seconds."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while _group_members(pgid, leader):
        if time.monotonic() > deadline:
            _signal_group(pgid, signal.SIGKILL)
            return
        time.sleep(0.05)


def _group_members(pgid: int, leader: int) -> bool:
    """Whether a live process other than ``leader`` is in group ``pgid`` (``/proc``; elsewhere
    assume so, which only costs the grace period)."""
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == leader:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _signal_group(pid: int, sig: signal.Signals) -> bool:
    """Signal process group ``pid``; False when it no longer exists."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    return True
