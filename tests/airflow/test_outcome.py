"""A group's state from its members' reports, decided by the core GroupEngine (no rule copy)."""

from __future__ import annotations

from groupplug.airflow.outcome import group_state
from groupplug.report import MemberReport
from groupplug.states import GroupState, MemberState

S, F = MemberState.SUCCEEDED, MemberState.FAILED


def reports(**states):
    return {n: MemberReport(state=s, reason=r) for n, (s, r) in states.items()}


def test_the_lead_decides_and_stopped_members_follow_it():
    done = reports(lead=(S, ""), w=(S, "lead finished"), x=(F, "boom"))
    assert group_state(done, "lead", True) is GroupState.SUCCEEDED
    failed_lead = reports(lead=(F, "exit 3"), w=(F, "lead finished"))
    assert group_state(failed_lead, "lead", True) is GroupState.FAILED


def test_strict_a_nonlead_failure_fails_the_group_even_if_reported_after_the_stops():
    members = reports(lead=(F, "task w failed"), w=(F, "boom"), x=(F, "task w failed"))
    assert group_state(members, "lead", False) is GroupState.FAILED
    assert group_state(reports(lead=(S, ""), w=(F, "boom")), "lead", True) is GroupState.SUCCEEDED


def test_live_states_roll_up_as_the_engine_tracks_them():
    assert group_state(reports(lead=(MemberState.PENDING, "")), "lead", True) is \
        GroupState.PENDING
    setting_up = reports(lead=(MemberState.SETTING_UP, ""), w=(MemberState.PENDING, ""))
    assert group_state(setting_up, "lead", True) is GroupState.INITIALIZING
    running = reports(lead=(MemberState.RUNNING, ""), w=(F, "boom"))
    assert group_state(running, "lead", True) is GroupState.RUNNING
    gone = reports(lead=(MemberState.UPSTREAM_FAILED, "upstream group failed"),
                   w=(MemberState.UPSTREAM_FAILED, "upstream group failed"))
    assert group_state(gone, "lead", True) is GroupState.UPSTREAM_FAILED
