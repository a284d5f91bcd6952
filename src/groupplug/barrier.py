"""The barrier protocol (DESIGN section 4): arrivals per epoch in a pluggable store.

Every member runs its setup, then *arrives*. The barrier of an epoch releases when every member
that has not left has arrived; a member that finishes or fails before arriving *leaves*, so the
others never deadlock. A restart re-arms the barrier under a new epoch; arrivals carry their epoch,
so stale ones never count. The rule lives in :func:`barrier_released`, shared with the status
engine; stores only remember arrivals, so any shared medium (Airflow task states, the Prefect API,
a database) can serve as one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from typing import Protocol

from .exceptions import BarrierTimeout


def barrier_released(
    members: Collection[str], arrived: Collection[str], left: Collection[str]
) -> bool:
    """True when every member that has not left has arrived (and at least one has arrived)."""
    waiting_for = [m for m in members if m not in left and m not in arrived]
    return not waiting_for and any(m in arrived for m in members)


def missing_members(
    members: Iterable[str], arrived: Collection[str], left: Collection[str]
) -> list[str]:
    """Members still expected at the barrier, in member order."""
    return [m for m in members if m not in arrived and m not in left]


class BarrierStore(Protocol):
    """Where arrivals are recorded. Implementations must be safe to call from many workers."""

    def arrive(self, barrier_id: str, epoch: int, member: str) -> None: ...

    def leave(self, barrier_id: str, epoch: int, member: str) -> None: ...

    def snapshot(self, barrier_id: str, epoch: int) -> tuple[frozenset[str], frozenset[str]]:
        """``(arrived, left)`` for ``epoch``. A member that left stays left in later epochs."""
        ...

    def delete(self, barrier_id: str) -> None: ...


class InMemoryBarrierStore:
    """A store for members that share one process (threads). Wakes waiters at once on change."""

    def __init__(self) -> None:
        self._arrived: dict[tuple[str, int], set[str]] = {}
        self._left: dict[str, set[str]] = {}
        self.changed = threading.Condition()

    def arrive(self, barrier_id: str, epoch: int, member: str) -> None:
        with self.changed:
            self._arrived.setdefault((barrier_id, epoch), set()).add(member)
            self.changed.notify_all()

    def leave(self, barrier_id: str, epoch: int, member: str) -> None:
        with self.changed:
            self._left.setdefault(barrier_id, set()).add(member)
            self.changed.notify_all()

    def snapshot(self, barrier_id: str, epoch: int) -> tuple[frozenset[str], frozenset[str]]:
        with self.changed:
            return (
                frozenset(self._arrived.get((barrier_id, epoch), ())),
                frozenset(self._left.get(barrier_id, ())),
            )

    def delete(self, barrier_id: str) -> None:
        with self.changed:
            for key in [k for k in self._arrived if k[0] == barrier_id]:
                del self._arrived[key]
            self._left.pop(barrier_id, None)
            self.changed.notify_all()


class Barrier:
    """One group's barrier over a store. ``wait`` arrives and blocks until release or timeout.

    >>> store = InMemoryBarrierStore()
    >>> b = Barrier("train", ["a", "b"], store)
    >>> b.leave("b"); b.wait("a")   # b failed in setup: a does not wait for it
    """

    def __init__(
        self,
        barrier_id: str,
        members: Iterable[str],
        store: BarrierStore,
        *,
        group: str | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.05,
    ):
        self.barrier_id = barrier_id
        self.members = tuple(members)
        if not self.members:
            raise ValueError(f"barrier {barrier_id!r} needs at least one member")
        self.store = store
        self.group = group or barrier_id
        self.timeout = timeout
        self.poll_interval = poll_interval

    def arrive(self, member: str, epoch: int = 0) -> None:
        self._check_member(member)
        self.store.arrive(self.barrier_id, epoch, member)

    def leave(self, member: str, epoch: int = 0) -> None:
        self._check_member(member)
        self.store.leave(self.barrier_id, epoch, member)

    def released(self, epoch: int = 0) -> bool:
        arrived, left = self.store.snapshot(self.barrier_id, epoch)
        return barrier_released(self.members, arrived, left)

    def missing(self, epoch: int = 0) -> list[str]:
        arrived, left = self.store.snapshot(self.barrier_id, epoch)
        return missing_members(self.members, arrived, left)

    def wait(self, member: str, epoch: int = 0, timeout: float | None = None) -> None:
        """Arrive as ``member`` and block until the barrier of ``epoch`` releases.

        Raises :class:`BarrierTimeout` naming the members that never arrived.
        """
        self.arrive(member, epoch)
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        condition = getattr(self.store, "changed", None)
        while not self.released(epoch):
            waited = time.monotonic() - started
            if limit is not None and waited >= limit:
                raise BarrierTimeout(self.group, limit, self.missing(epoch))
            pause = self.poll_interval
            if limit is not None:
                pause = min(pause, max(limit - waited, 0.0))
            if condition is not None:
                with condition:
                    if not self.released(epoch):
                        condition.wait(pause)
            else:
                time.sleep(pause)

    def _check_member(self, member: str) -> None:
        if member not in self.members:
            raise ValueError(
                f"{member!r} is not a member of barrier {self.barrier_id!r}; "
                f"members: {', '.join(self.members)}"
            )
