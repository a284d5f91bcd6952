"""Runs one member command as its child, and takes the command's process group down with it
when the process that started it dies, even by SIGKILL (an Airflow task runner or a Dask worker
killed): without it the command was orphaned and ran on (``sleep 600`` for 600 s).

Started by :func:`groupplug.launch.popen` as ``python -I -S _guard.py PARENT_PID ARGV...`` in a
session of its own, so the command and everything it starts share the guard's process group.
The guard checks every :data:`POLL` seconds that its parent is still the process that started
it (a dead parent's children are re-parented); when it is not, or on SIGTERM, it signals its
whole group and SIGKILLs what is left after :data:`GRACE` seconds. Why polling and not Linux's
``prctl(PR_SET_PDEATHSIG)``: reaching ``prctl`` needs ``ctypes``, which doubled the guard's
start (12 -> 21 ms per command, measured); a poll costs nothing while the command runs.

The command's exit is the guard's: its exit code, or death by the same signal. A program that
cannot be executed exits 127 with the reason on stderr, as ``sh`` does.

Standalone on purpose (run with ``-S``, no groupplug import): it adds ~12 ms per command.
"""

from __future__ import annotations

import os
import sys

try:  # the C module: ``signal`` imports ``enum``, a third of the guard's start (measured)
    import _signal as signal
except ImportError:  # pragma: no cover - not CPython
    import signal  # type: ignore[no-redef]

GRACE = 2.0
POLL = 0.5
STOPS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def main(argv: list[str]) -> int:
    parent, command = int(argv[0]), argv[1:]
    stopping: list[int] = []

    def stop_group(signum: int, _frame: object) -> None:
        if stopping:
            return
        stopping.append(signum)
        os.killpg(os.getpgrp(), signal.SIGTERM)  # the guard too: ignored, stopping is set
        signal.signal(signal.SIGALRM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, GRACE)

    if os.getppid() != parent:  # the parent died before the guard started
        return 1
    for sig in STOPS:
        signal.signal(sig, stop_group)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # sigtimedwait wakes on it
    child = os.fork()
    if child == 0:
        _exec(command)
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
        if os.getppid() != parent:
            stop_group(signal.SIGTERM, None)
        signal.sigtimedwait({signal.SIGCHLD}, POLL)
    return _exit_as(status)


def _exec(command: list[str]) -> None:
    """In the forked child: the command, with the signal setup a fresh process has."""
    for sig in STOPS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    try:
        os.execvp(command[0], command)
    except OSError as error:
        os.write(2, f"cannot run {command[0]!r}: {error.strerror or error}\n".encode())
    os._exit(127)


def _exit_as(status: int) -> int:
    """End as the command ended: its exit code, or death by its signal."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.setitimer(signal.ITIMER_REAL, 0)
        if signum != signal.SIGKILL:  # its action cannot be set, and is the default
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
