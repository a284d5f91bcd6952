"""A growing GroupEngine: members join while the group runs (Prefect task calls in a block)."""

from __future__ import annotations

from groupplug.states import GroupState, MemberState
from groupplug.status import ActionKind, Event, EventKind, GroupEngine

A, S, F = EventKind.ARRIVED, EventKind.SUCCEEDED, EventKind.FAILED


def test_barrier_holds_until_membership_settles():
    engine = GroupEngine("train", [], "lead", growing=True)
    engine.add_member("w")
    assert engine.apply(Event(A, "w")) == []  # more may join: no release yet
    engine.add_member("lead")
    assert engine.apply(Event(A, "lead")) == []
    (release,) = engine.settle()
    assert release.kind is ActionKind.RELEASE and release.members == ("w", "lead")


def test_a_member_joining_after_release_starts_at_once():
    engine = GroupEngine("train", [], "lead", growing=True)
    engine.add_member("lead")
    engine.apply(Event(A, "lead"))
    engine.settle()
    engine.add_member("late")
    (release,) = engine.apply(Event(A, "late"))
    assert release.members == ("late",)


def test_a_member_joining_an_ended_group_takes_the_lead_state():
    engine = GroupEngine("train", [], "lead", growing=True, barrier=False)
    engine.add_member("lead")
    engine.apply(Event(A, "lead"))
    engine.apply(Event(F, "lead"))
    (stop,) = engine.add_member("late")
    assert (stop.kind, stop.state, stop.reason) == (ActionKind.STOP, MemberState.FAILED,
                                                     "lead finished")


def test_joining_an_upstream_failed_group_is_upstream_failed():
    engine = GroupEngine("eval", [], "score", growing=True)
    engine.upstream_failed("upstream group train failed")
    (stop,) = engine.add_member("score")
    assert (stop.state, stop.reason) == (MemberState.UPSTREAM_FAILED,
                                         "upstream group train failed")


def test_rename_keeps_state_and_abort_fails_the_rest():
    engine = GroupEngine("train", [], "lead", growing=True, barrier=False)
    engine.add_member("fit")
    engine.apply(Event(A, "fit"))
    engine.rename_member("fit", "fit[0]")
    assert engine.states == {"fit[0]": MemberState.WAITING}
    engine.add_member("fit[1]")
    actions = engine.abort("the block raised")
    assert [a.member for a in actions if a.kind is ActionKind.STOP] == ["fit[0]", "fit[1]"]
    assert engine.state is GroupState.FAILED and engine.reasons["fit[1]"] == "the block raised"
