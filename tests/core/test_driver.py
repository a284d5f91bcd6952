"""GroupDriver: the status engine's actions delivered, the report and hooks kept in step."""

from __future__ import annotations

from groupplug.driver import GroupDriver
from groupplug.report import GroupReport
from groupplug.status import ActionKind, Event, EventKind, GroupEngine


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def groupplug_member_state_changed(self, **kwargs: object) -> None:
        self.calls.append(("member", kwargs))

    def groupplug_group_state_changed(self, **kwargs: object) -> None:
        self.calls.append(("group", kwargs))


def _driver(timeout: float | None = None) -> tuple[GroupDriver, list, Recorder]:
    delivered: list = []
    hook = Recorder()
    engine = GroupEngine("train", ["lead", "w"], "lead")
    driver = GroupDriver("train", engine, GroupReport(lead="lead"), delivered.append,
                         barrier_timeout=timeout, run_id="r1", hook=hook)
    return driver, delivered, hook


def test_the_lead_finishing_delivers_a_stop_and_updates_report_and_hooks():
    driver, delivered, hook = _driver()
    for member in ("lead", "w"):
        driver.event(Event(EventKind.ARRIVED, member))
    assert [a.kind for a in delivered] == [ActionKind.RELEASE]
    driver.event(Event(EventKind.STARTED, "lead"))
    driver.event(Event(EventKind.SUCCEEDED, "lead"))
    assert [(a.kind, a.member) for a in delivered[1:]] == [(ActionKind.STOP, "w")]
    w = driver.report.members["w"]
    assert (w.state.value, w.reason) == ("succeeded", "lead finished")
    assert w.finished_at is not None and driver.report.state.value == "succeeded"
    last = [(kind, c.get("member"), c["new"].value) for kind, c in hook.calls[-3:]]
    assert last == [("member", "lead", "succeeded"), ("member", "w", "succeeded"),
                    ("group", None, "succeeded")], "members are told before their group"


def test_tick_times_the_barrier_out_from_its_first_arrival(monkeypatch):
    import groupplug.driver as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    driver, delivered, _ = _driver(timeout=5)
    driver.event(Event(EventKind.ARRIVED, "w"))
    now[0] += 4.9
    assert driver.tick() == []
    now[0] += 0.1
    driver.tick()
    # Only a member waiting at the barrier fails; the lead, still in its setup, goes on.
    assert [(a.kind, a.member) for a in delivered] == [(ActionKind.STOP, "w")]
    assert driver.report.members["w"].reason == ('BarrierTimeout: group "train" waited 5s; '
                                                 "not arrived: lead")
