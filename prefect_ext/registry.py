"""Where groups in a user's ``@flow`` leave their reports, for ``groupplug run FILE.py:FLOW``.

A group calls :func:`record` once, when it ends (its members final, its state decided);
``groupplug run`` wraps the flow call in :func:`collecting` and builds the run's one report from
what was recorded. Outside :func:`collecting` (a flow run by plain Python) :func:`record` keeps
nothing, so a long-lived process does not grow.

Why a context variable holding a mutable dict: Prefect runs sync subflows and tasks in copies
of the caller's context (other threads, the global loop); a copy shares the dict object, so a
group recorded anywhere under the run lands in the run's collection, and two runs in one
process (threads) keep theirs apart.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from groupplug.report import GroupReport

_RUN: ContextVar[dict[str, GroupReport] | None] = ContextVar("groupplug_prefect_run",
                                                              default=None)
_LOCK = threading.Lock()
log = logging.getLogger("groupplug.prefect.story")


def record(path: str, report: GroupReport) -> str:
    """Keep ``report`` for the group at dotted ``path``; returns the key it was kept under.

    A group that runs again under the same path (a ``with group(...)`` in a loop) is kept as
    ``path[1]``, ``path[2]``, ... in the order they ended; the first keeps ``path``.
    """
    log.info("%s", _summary(path, report))
    groups = _RUN.get()
    if groups is None:
        return path
    with _LOCK:
        key, n = path, 0
        while key in groups:
            n += 1
            key = f"{path}[{n}]"
        groups[key] = report
    return key


def _summary(path: str, report: GroupReport) -> str:
    members = ", ".join(f"{name} {m.state.value}" + (f" ({m.reason})" if m.reason else "")
                        for name, m in report.members.items())
    lead = f"; lead {report.lead}" if report.lead else ""
    return f"group {path} ended {report.state.value}{lead}" + (f": {members}" if members else "")


def collect() -> dict[str, GroupReport]:
    """The groups recorded so far in the current :func:`collecting` block, by dotted path."""
    groups = _RUN.get()
    with _LOCK:
        return dict(groups or {})


@contextlib.contextmanager
def collecting() -> Iterator[dict[str, GroupReport]]:
    """``with collecting() as groups:`` run a flow; ``groups`` fills as its groups end."""
    groups: dict[str, GroupReport] = {}
    token = _RUN.set(groups)
    try:
        yield groups
    finally:
        _RUN.reset(token)


def member_keys(task_names: Sequence[str]) -> list[str]:
    """Report keys for a group's members in call order: a task called once keeps its name, one
    called several times is ``name[0]``, ``name[1]``, ...

    >>> member_keys(["prep", "fit", "fit", "score"])
    ['prep', 'fit[0]', 'fit[1]', 'score']
    """
    totals: dict[str, int] = {}
    for name in task_names:
        totals[name] = totals.get(name, 0) + 1
    seen: dict[str, int] = {}
    keys = []
    for name in task_names:
        if totals[name] == 1:
            keys.append(name)
        else:
            keys.append(f"{name}[{seen.get(name, 0)}]")
            seen[name] = seen.get(name, 0) + 1
    return keys
