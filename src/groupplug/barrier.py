"""The barrier's clock (DESIGN section 4): when a barrier that has not released times out.

Every member runs its setup, then *arrives*. The barrier of an epoch releases when every member
that has not left has arrived; a member that finishes or fails before arriving *leaves*, so the
others never deadlock. The status engine (:mod:`groupplug.status`) decides releases for every
engine; where arrivals are kept is each engine's own medium (a queue on the local engine, the
group's channel on Prefect, task-instance states on Airflow), so there is no separate store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .exceptions import BarrierTimeout

if TYPE_CHECKING:
    from .status import Action, Event, GroupEngine


class BarrierClock:
    """When a group's barrier times out, the same on every engine (DESIGN section 4).

    The timeout is counted from the *first arrival* of each epoch, not from when the group or a
    barrier task started; a release or a restart stops the clock until the next first arrival.
    Drivers tell it every event they applied (:meth:`saw`) and ask :meth:`due` on their loop.
    """

    def __init__(self, engine: GroupEngine, timeout: float | None):
        self.engine = engine
        self.timeout = timeout
        self.since: float | None = None  # the current epoch's first arrival

    def saw(self, event: Event | None, actions: Iterable[Action], now: float) -> None:
        from .status import ActionKind, EventKind

        if any(a.kind in (ActionKind.RELEASE, ActionKind.RESTART) for a in actions):
            self.since = None
        elif (event is not None and event.kind is EventKind.ARRIVED and self.engine.barrier
              and self.since is None and self.engine.waiting()):
            self.since = now

    def due(self, now: float) -> list[Action]:
        """The engine's actions for an expired barrier (waiting members fail), else ``[]``."""
        if self.timeout is None or self.since is None or self.engine.finished:
            return []
        if now - self.since < self.timeout:
            return []
        self.since = None
        reason = str(BarrierTimeout(self.engine.name, self.timeout, self.engine.not_arrived()))
        return self.engine.barrier_timed_out(reason)
