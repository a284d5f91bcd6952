"""Member and group states, shared by the status engine, the runners and every adapter."""

from __future__ import annotations

from enum import Enum


class MemberState(str, Enum):
    PENDING = "pending"
    SETTING_UP = "setting_up"
    WAITING = "waiting"  # arrived at the barrier, not yet released
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self in MEMBER_FINISHED

    def __str__(self) -> str:
        return self.value


MEMBER_FINISHED = frozenset(
    {
        MemberState.SUCCEEDED,
        MemberState.FAILED,
        MemberState.UPSTREAM_FAILED,
        MemberState.SKIPPED,
    }
)


class GroupState(str, Enum):
    PENDING = "pending"
    INITIALIZING = "initializing"  # members setting up or waiting at the barrier
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self in GROUP_FINISHED

    def __str__(self) -> str:
        return self.value


GROUP_FINISHED = frozenset(
    {GroupState.SUCCEEDED, GroupState.FAILED, GroupState.UPSTREAM_FAILED, GroupState.SKIPPED}
)


def group_state_of_lead(lead_state: MemberState) -> GroupState:
    """The group state a finished lead gives its group."""
    return {
        MemberState.SUCCEEDED: GroupState.SUCCEEDED,
        MemberState.FAILED: GroupState.FAILED,
        MemberState.UPSTREAM_FAILED: GroupState.UPSTREAM_FAILED,
        MemberState.SKIPPED: GroupState.SKIPPED,
    }[lead_state]
