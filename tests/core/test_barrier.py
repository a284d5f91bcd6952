"""The barrier clock (releases themselves are tested through the status engine and the
conformance table)."""

from __future__ import annotations


def test_the_barrier_clock_counts_from_the_first_arrival_of_each_epoch():
    from groupplug.barrier import BarrierClock
    from groupplug.status import ActionKind, Event, EventKind, GroupEngine

    engine = GroupEngine("train", ["lead", "a", "b"], "lead")
    clock = BarrierClock(engine, timeout=10)

    def apply(kind: EventKind, member: str, now: float) -> list:
        event = Event(kind, member)
        actions = engine.apply(event)
        clock.saw(event, actions, now)
        return actions

    apply(EventKind.SETUP_STARTED, "b", 0)  # the group started at 0; nobody has arrived
    assert clock.due(50) == []  # 50 s after the start, but no arrival yet: no clock running
    apply(EventKind.ARRIVED, "lead", 100)
    apply(EventKind.ARRIVED, "a", 105)  # a later arrival does not restart the clock
    assert clock.due(109.9) == []
    actions = clock.due(110)
    stopped = {a.member: a.reason for a in actions if a.kind is ActionKind.STOP}
    assert stopped["a"] == 'BarrierTimeout: group "train" waited 10s; not arrived: b'
    assert engine.finished and clock.due(1000) == []


def test_a_release_stops_the_barrier_clock():
    from groupplug.barrier import BarrierClock
    from groupplug.status import Event, EventKind, GroupEngine

    engine = GroupEngine("train", ["lead", "a"], "lead")
    clock = BarrierClock(engine, timeout=1)
    for member in ("lead", "a"):
        event = Event(EventKind.ARRIVED, member)
        clock.saw(event, engine.apply(event), 0)
    assert clock.due(100) == [] and not engine.finished
