"""A command (``sh -c`` or an argument vector) in its own process group, its output in a
logger, stoppable from outside.

Stopping kills the whole process group (``sh -c`` and everything it started), so a stopped member
leaves nothing running on the worker, whatever the executor.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable

from .launch import Launch, popen

KILL_GRACE = 2.0


def run_watched(
    command: str | Launch,
    log: logging.Logger,
    should_stop: Callable[[], str | None],
    poll_interval: float = 0.5,
) -> tuple[int | None, str | None]:
    """Run ``command`` (a :class:`~groupplug.launch.Launch`, or a string for ``sh -c``);
    ``(exit code, None)`` when it ends, ``(None, why)`` when stopped.

    ``should_stop`` is asked every ``poll_interval`` seconds; a non-empty answer stops the command.
    A program that cannot start raises :class:`~groupplug.launch.LaunchError`.
    """
    proc = popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                 errors="replace")
    reader = threading.Thread(target=_pump, args=(proc, log), daemon=True)
    reader.start()
    try:
        while True:
            try:
                proc.wait(poll_interval)  # wakes when the command ends, not on a sleep tick
                reader.join(5)
                return proc.returncode, None
            except subprocess.TimeoutExpired:
                pass
            why = should_stop()
            if why:
                stop(proc)
                reader.join(5)
                return None, why
    except BaseException:
        stop(proc)  # the task itself was killed or timed out: take the command down with it
        raise


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the process group; SIGKILL what is left after :data:`KILL_GRACE` seconds."""
    if proc.poll() is not None:
        return
    _signal(proc.pid, signal.SIGTERM)
    try:
        proc.wait(KILL_GRACE)
    except subprocess.TimeoutExpired:
        _signal(proc.pid, signal.SIGKILL)
        proc.wait()


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _pump(proc: subprocess.Popen[str], log: logging.Logger) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        log.info("%s", line.rstrip("\n"))
