"""The processes a service started, found through ``/proc``: is it alive, which processes are
its family, signal them, stop them (SIGKILL after a grace period).

Why not process groups alone: Airflow's task supervisors move into process groups of their
own and member commands into sessions of their own, yet all descend from the service.
"""

from __future__ import annotations

import glob
import os
import signal
import socket
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child that exited) is not alive
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as cmd:
        return [part.decode() for part in cmd.read().split(b"\0") if part]


def stop_service(pid: int, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> None:
    """Signal every process of the service ``pid`` started (see :func:`family`); SIGKILL what
    is left after ``timeout``."""
    procs = family(pid)
    signal_all(procs, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = {p for p in procs | family(pid) if alive(p)}
        if not procs:
            return
        time.sleep(0.2)
    while procs:
        signal_all(procs, signal.SIGKILL)
        time.sleep(0.1)
        procs = {p for p in procs | family(pid) if alive(p)}


def signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _table() -> dict[int, tuple[int, int, int, str]]:
    """pid -> (parent, process group, session, state) of every process."""
    table = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(stat.split("/")[2])] = (int(fields[1]), int(fields[2]), int(fields[3]),
                                          fields[0])
    return table


def family(pid: int) -> set[int]:
    """The live processes a service started: its session (it leads one) and every descendant.
    Why both: Airflow's task supervisors move into process groups of their own, and member
    commands into sessions of their own, yet all descend from the service."""
    table = _table()
    found = {p for p, (_, _, sid, state) in table.items() if sid == pid and state != "Z"}
    if pid in table:
        found.add(pid)
    children: dict[int, list[int]] = {}
    for p, (parent, *_rest) in table.items():
        children.setdefault(parent, []).append(p)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and table[child][3] != "Z":
                found.add(child)
                todo.append(child)
    return found


def service_alive(pid: int) -> bool:
    return bool(family(pid))
