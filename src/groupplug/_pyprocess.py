"""A Python callable in a process of its own, so its group can stop it wherever it is blocked.

A thread cannot be stopped from outside while it sits in a C call (``time.sleep(600)``, a socket
read): a process can. The child runs in its own session (a group stop takes down whatever the
callable started), writes its output to the member's log, and sends back its return value (JSON,
or its ``repr`` where JSON cannot hold it) or the exception it raised.

Processes are *spawned*, not forked: the runner is multi-threaded and a fork copies locks held
by other threads. Spawning pickles the callable, so it must be defined at module level;
:func:`picklable_problem` says so before anything runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._process import KILL_GRACE, stop_group

_SPAWN = multiprocessing.get_context("spawn")


def picklable_problem(fn: Callable[..., Any]) -> str | None:
    """Why ``fn`` cannot be sent to a spawned process, or None when it can."""
    try:
        pickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - pickling raises many kinds; all mean the same here
        name = getattr(fn, "__qualname__", repr(fn))
        return (f"{name} cannot be sent to a process of its own ({type(exc).__name__}); the local "
                "engine runs fn= there so its group can stop it: define it at module level "
                "(not a lambda or a nested function)")
    return None


def json_safe(value: Any) -> Any:
    """``value`` when JSON holds it, else its ``repr``."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _child(fn: Callable[..., Any], log_path: str, conn: Any) -> None:
    os.setsid()
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives with the process
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        result = fn()
    except BaseException as exc:  # noqa: BLE001 - everything the callable raises is its failure
        traceback.print_exc()
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        sys.exit(1)
    conn.send(("ok", json_safe(result)))


class PythonProcess:
    """``fn()`` in a spawned process; the same control surface as :class:`ShellProcess`."""

    def __init__(self, fn: Callable[..., Any], log_path: Path):
        self._receive, send = _SPAWN.Pipe(duplex=False)
        self._process = _SPAWN.Process(target=_child, args=(fn, str(log_path), send), daemon=True)
        self._process.start()
        send.close()
        self._killed = False
        self.result: Any = None
        self.error: str | None = None

    def wait(self) -> int:
        """The exit code: 0 when ``fn`` returned, 1 when it raised, negative when killed."""
        try:
            kind, value = self._receive.recv()  # before join: a large result fills the pipe
        except EOFError:
            kind, value = "died", None
        pid = self._process.pid
        if pid is not None and hasattr(os, "waitid"):
            # Not reaped yet, so its session id is still ours: stop what fn left running.
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                stop_group(pid, leader=pid)
            except ChildProcessError:
                pass
        self._process.join()
        if kind == "ok":
            self.result = value
        elif kind == "error":
            self.error = value
        code = self._process.exitcode
        return code if code is not None else -1

    @property
    def killed(self) -> bool:
        return self._killed

    def kill(self, grace: float = KILL_GRACE) -> None:
        """SIGTERM the process's session; SIGKILL what is left after ``grace`` seconds (at
        once when 0)."""
        self._killed = True
        pid = self._process.pid
        if pid is None or self._process.exitcode is not None:
            return
        for sig in ((signal.SIGKILL,) if grace <= 0 else (signal.SIGTERM, signal.SIGKILL)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:  # not yet its own session leader: signal it alone
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    return
            self._process.join(grace or KILL_GRACE)
            if self._process.exitcode is not None:
                return
