"""Property tests of the status engine's invariants, driven by plausible random schedules.

A model driver moves members through setup, arrival, release, main work and outcome in a
hypothesis-chosen interleaving, honouring the engine's actions, and checks after every step:
a finished group leaves no member unfinished; with ignore_nonlead_status the group's state is the
lead's; a barrier never releases while an active member is missing; and the engine never
deadlocks (when no member can move, the group has finished).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from groupplug.states import MemberState, group_state_of_lead
from groupplug.status import ActionKind, Event, EventKind, GroupEngine

# phase -> the events a member may send next
MOVES = {
    "new": [EventKind.SETUP_STARTED, EventKind.ARRIVED, EventKind.FAILED],
    "setup": [EventKind.ARRIVED, EventKind.FAILED],
    "released": [EventKind.STARTED],
    "running": [EventKind.SUCCEEDED, EventKind.FAILED, EventKind.RETRYING],
    "retrying": [EventKind.ARRIVED],
}
NEXT_PHASE = {
    EventKind.SETUP_STARTED: "setup",
    EventKind.ARRIVED: "arrived",
    EventKind.STARTED: "running",
    EventKind.SUCCEEDED: "done",
    EventKind.FAILED: "done",
    EventKind.RETRYING: "retrying",
}


@st.composite
def groups(draw):
    size = draw(st.integers(1, 6))
    members = [f"m{i}" for i in range(size)]
    lead = members[draw(st.integers(0, size - 1))]
    return GroupEngine(
        "g",
        members,
        lead,
        barrier=draw(st.booleans()),
        ignore_nonlead_status=draw(st.booleans()),
    )


@settings(max_examples=400, deadline=None)
@given(engine=groups(), data=st.data())
def test_invariants_hold_on_every_schedule(engine: GroupEngine, data: st.DataObject) -> None:
    phase = dict.fromkeys(engine.members, "new")
    released_epochs: set[int] = set()
    lead_final: MemberState | None = None
    for _ in range(60):
        movable = [m for m in engine.members if phase[m] in MOVES]
        if not movable or engine.finished:
            break
        member = data.draw(st.sampled_from(movable))
        kind = data.draw(st.sampled_from(MOVES[phase[member]]))
        phase[member] = NEXT_PHASE[kind]
        actions = engine.apply(Event(kind, member))
        if member == engine.lead and kind in (EventKind.SUCCEEDED, EventKind.FAILED):
            lead_final = engine.states[member]
        _follow(engine, actions, phase, released_epochs)
        if engine.finished:
            unfinished = [m for m in engine.members if not engine.states[m].finished]
            assert not unfinished, f"group finished with {unfinished} unfinished"
            if engine.ignore_nonlead_status and lead_final is not None:
                assert engine.state is group_state_of_lead(lead_final)
    movable = [m for m in engine.members if phase[m] in MOVES]
    if not movable:
        assert engine.finished, f"deadlock: phases {phase}, states {engine.states}"


def _follow(engine: GroupEngine, actions, phase: dict, released_epochs: set[int]) -> None:
    """Apply the engine's actions to the model, checking each barrier release."""
    for action in actions:
        if action.kind is ActionKind.RELEASE:
            if engine.barrier and action.epoch not in released_epochs:
                active = {m for m in engine.members if not engine.states[m].finished}
                assert active <= set(action.members), (
                    f"released {action.members} while {active - set(action.members)} "
                    "had not arrived"
                )
                released_epochs.add(action.epoch)
            for m in action.members:
                phase[m] = "released"
        elif action.kind is ActionKind.STOP:
            phase[action.member] = "done"
        elif action.kind is ActionKind.RESTART:
            phase[action.member] = "retrying"
            released_epochs.discard(action.epoch)


@settings(max_examples=200, deadline=None)
@given(engine=groups(), data=st.data())
def test_events_after_the_group_finished_change_nothing(engine, data) -> None:
    lead = engine.lead
    engine.apply(Event(EventKind.ARRIVED, lead))
    engine.apply(Event(EventKind.FAILED, lead))
    assert engine.finished
    before = (engine.state, dict(engine.states))
    member = data.draw(st.sampled_from(engine.members))
    kind = data.draw(st.sampled_from(list(EventKind)))
    assert engine.apply(Event(kind, member)) == []
    assert (engine.state, engine.states) == before
