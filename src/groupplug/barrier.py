"""The barrier rule (DESIGN section 4) as two pure functions over arrivals and departures.

Every member runs its setup, then *arrives*. The barrier of an epoch releases when every member
that has not left has arrived; a member that finishes or fails before arriving *leaves*, so the
others never deadlock. The status engine (:mod:`groupplug.status`) decides releases for every
engine; where arrivals are kept is each engine's own medium (a queue on the local engine, the
group's channel on Prefect, task-instance states on Airflow), so there is no separate store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


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
