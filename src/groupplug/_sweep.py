"""The last line of cleanup for a service home: stop every process started under it.

Every process an embedded engine starts (services, executor workers, task runners, member
commands, forked member bodies) inherits the engine's home in its environment
(``AIRFLOW_HOME``, ``PREFECT_HOME``). Before that temporary home is removed, whatever still
carries it is stopped, so neither a process nor a directory outlives the run, even when a
service died without stopping its children. Linux only (``/proc``); elsewhere a no-op.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)


def marked(key: str, value: str) -> list[int]:
    """Live processes (not this one, not zombies) whose environment holds ``key=value``."""
    if not os.path.isdir("/proc/self"):
        return []
    needle = f"{key}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and stat.rsplit(b")", 1)[1].split()[0] != b"Z":
            found.append(int(entry))
    return found


def stop_marked(key: str, value: str, grace: float = 3.0) -> list[int]:
    """SIGTERM every process marked ``key=value``; SIGKILL those left after ``grace`` seconds.
    The pids found (logged: each one is a process something failed to stop)."""
    pids = marked(key, value)
    if not pids:
        return []
    log.warning("%d processes under %s=%s outlived their service; stopping them: %s",
                len(pids), key, value, pids)
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and marked(key, value):
        time.sleep(0.1)
    for pid in marked(key, value):
        _kill(pid, signal.SIGKILL)
    return pids


def _kill(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
