"""The status engine against DESIGN section 3, row by row, as a pure state machine."""

from __future__ import annotations

import pytest

from groupplug.spec import Group, Task
from groupplug.states import GroupState, MemberState
from groupplug.status import Action, ActionKind, Event, EventKind, GroupEngine, rollup

A, S, F, R, ST = (EventKind.ARRIVED, EventKind.SUCCEEDED, EventKind.FAILED, EventKind.RETRYING,
                  EventKind.STARTED)


def running(ignore: bool = True, barrier: bool = True) -> GroupEngine:
    engine = GroupEngine("train", ["lead", "w1", "w2"], "lead", barrier=barrier,
                         ignore_nonlead_status=ignore)
    for m in engine.members:
        engine.apply(Event(A, m))
    for m in engine.members:
        engine.apply(Event(ST, m))
    assert engine.state is GroupState.RUNNING
    return engine


@pytest.mark.parametrize("ignore", [True, False])
@pytest.mark.parametrize("outcome", [S, F])
def test_lead_finishing_stops_the_others_with_its_state(ignore, outcome):
    engine = running(ignore)
    actions = engine.apply(Event(outcome, "lead"))
    final = MemberState(outcome.value)
    assert actions == [
        Action(ActionKind.STOP, "w1", final, "lead finished"),
        Action(ActionKind.STOP, "w2", final, "lead finished"),
        Action(ActionKind.FINISH_GROUP, group_state=GroupState(outcome.value)),
    ]
    assert engine.states == {"lead": final, "w1": final, "w2": final}


def test_nonlead_failure_is_ignored_by_default():
    engine = running(ignore=True)
    assert engine.apply(Event(F, "w1")) == []
    assert engine.state is GroupState.RUNNING
    assert engine.states["w1"] is MemberState.FAILED


def test_nonlead_failure_fails_the_group_when_not_ignored():
    engine = running(ignore=False)
    actions = engine.apply(Event(F, "w1"))
    assert [(a.kind, a.member, a.state, a.reason) for a in actions[:-1]] == [
        (ActionKind.STOP, "lead", MemberState.FAILED, "task w1 failed"),
        (ActionKind.STOP, "w2", MemberState.FAILED, "task w1 failed"),
    ]
    assert actions[-1].group_state is GroupState.FAILED


@pytest.mark.parametrize("ignore", [True, False])
def test_nonlead_success_changes_nothing(ignore):
    engine = running(ignore)
    assert engine.apply(Event(S, "w2")) == []
    assert engine.state is GroupState.RUNNING


@pytest.mark.parametrize("ignore", [True, False])
def test_lead_retry_restarts_the_others_and_rearms_the_barrier(ignore):
    engine = running(ignore)
    actions = engine.apply(Event(R, "lead", "exit 1"))
    assert [(a.kind, a.member, a.epoch) for a in actions] == [
        (ActionKind.RESTART, "w1", 1), (ActionKind.RESTART, "w2", 1)]
    assert engine.apply(Event(A, "w1", epoch=1)) == []
    assert engine.apply(Event(A, "w2", epoch=0)) == [], "a stale arrival must not count"
    assert engine.apply(Event(A, "w2", epoch=1)) == []
    release = engine.apply(Event(A, "lead"))
    assert release == [Action(ActionKind.RELEASE, members=("lead", "w1", "w2"), epoch=1)]


def test_nonlead_retry_alone_when_ignored():
    engine = running(ignore=True)
    assert engine.apply(Event(R, "w1")) == []
    assert engine.apply(Event(A, "w1")) == [Action(ActionKind.RELEASE, members=("w1",))]


def test_nonlead_retry_restarts_the_others_when_not_ignored():
    engine = running(ignore=False)
    actions = engine.apply(Event(R, "w1"))
    assert {a.member for a in actions} == {"lead", "w2"}
    assert engine.state is GroupState.RUNNING


def test_barrier_waits_for_every_active_member_and_drops_setup_failures():
    engine = GroupEngine("train", ["lead", "w1", "w2"], "lead")
    assert engine.apply(Event(A, "lead")) == []
    assert engine.apply(Event(A, "w1")) == []
    assert engine.not_arrived() == ["w2"]
    released = engine.apply(Event(F, "w2", "setup failed"))
    assert released == [Action(ActionKind.RELEASE, members=("lead", "w1"))]


def test_without_barrier_each_member_is_released_on_arrival():
    engine = GroupEngine("train", ["lead", "w1"], "lead", barrier=False)
    assert engine.apply(Event(A, "w1")) == [Action(ActionKind.RELEASE, members=("w1",))]


def test_barrier_timeout_fails_the_waiting_members_and_the_lead_ends_the_group():
    engine = GroupEngine("train", ["lead", "w1", "slow"], "lead")
    engine.apply(Event(A, "lead"))
    engine.apply(Event(A, "w1"))
    actions = engine.barrier_timed_out("BarrierTimeout: not arrived: slow")
    assert engine.states == {
        "lead": MemberState.FAILED, "w1": MemberState.FAILED, "slow": MemberState.FAILED}
    assert engine.reasons["w1"] == engine.reasons["lead"] == "BarrierTimeout: not arrived: slow"
    assert engine.reasons["slow"] == "lead finished"
    assert actions[-1].group_state is GroupState.FAILED


def test_upstream_failed_and_skip_end_the_group_without_starting():
    engine = GroupEngine("eval", ["a", "b"], "a")
    engine.upstream_failed("upstream group train failed")
    assert engine.state is GroupState.UPSTREAM_FAILED
    assert set(engine.states.values()) == {MemberState.UPSTREAM_FAILED}
    skipped = GroupEngine("eval", ["a"], None)
    skipped.skip()
    assert skipped.state is GroupState.SKIPPED and skipped.lead == "a"


def test_from_group_uses_the_spec():
    group = Group("g", tasks=(Task("a"), Task("b", lead=True)), barrier=False,
                  ignore_nonlead_status=False)
    engine = GroupEngine.from_group(group, name="p.g")
    assert (engine.name, engine.lead, engine.barrier, engine.ignore_nonlead_status) == (
        "p.g", "b", False, False)


def test_bad_construction_names_the_problem():
    with pytest.raises(ValueError, match="lead 'x' is not one of its members"):
        GroupEngine("g", ["a", "b"], "x")
    with pytest.raises(KeyError, match="has no member"):
        GroupEngine("g", ["a"], "a").apply(Event(A, "zz"))


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([GroupState.SUCCEEDED, GroupState.FAILED, GroupState.RUNNING], GroupState.FAILED),
        ([GroupState.SUCCEEDED, GroupState.RUNNING], GroupState.RUNNING),
        ([GroupState.SUCCEEDED, GroupState.PENDING], GroupState.RUNNING),
        ([GroupState.PENDING, GroupState.PENDING], GroupState.PENDING),
        ([GroupState.SUCCEEDED, GroupState.SKIPPED], GroupState.SUCCEEDED),
        ([GroupState.UPSTREAM_FAILED, GroupState.SUCCEEDED], GroupState.UPSTREAM_FAILED),
        ([GroupState.SKIPPED], GroupState.SKIPPED),
        ([], GroupState.PENDING),
    ],
)
def test_rollup_follows_flytes_rule(states, expected):
    assert rollup(states) is expected
