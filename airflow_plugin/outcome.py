"""What a group's Airflow task instances mean in groupplug's terms (pure: no Airflow import).

A member is up to two task instances (setup, main) plus, in a barrier group, the group's barrier.
Our operators push what Airflow states cannot say (the reason, the attempt count, the times) as
XCom; this module turns states + XCom into :class:`MemberReport`, and the reports into the group's
state through the core ``GroupEngine`` (no rules of its own). The gate task runs it at the
group's exit; the runner and the status view run it while a run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from groupplug.report import MemberReport
from groupplug.states import GroupState, MemberState
from groupplug.status import LEAD_FINISHED, Event, EventKind, GroupEngine

FINAL_TI = {"success", "failed", "upstream_failed", "skipped", "removed"}
RETRY_TI = {"up_for_retry", "up_for_reschedule", "restarting"}


@dataclass
class MemberFacts:
    """Everything Airflow knows about one member in one run."""

    name: str
    main_state: str | None = None
    setup_state: str | None = None
    main_xcom: Mapping[str, Any] | None = None
    setup_xcom: Mapping[str, Any] | None = None


def member_report(
    facts: MemberFacts, barrier_state: str | None = None,
    barrier_xcom: Mapping[str, Any] | None = None,
) -> MemberReport:
    """The member's groupplug state, reason, attempts and times."""
    main, setup = facts.main_xcom or {}, facts.setup_xcom or {}
    report = MemberReport(
        attempts=int(main.get("attempts", 0)),
        setup_finished_at=setup.get("finished_at"),
        started_at=main.get("started_at"),
        finished_at=main.get("finished_at") or setup.get("stopped_at"),
    )
    state, reason = _state(facts, barrier_state, barrier_xcom or {})
    report.state, report.reason = state, reason
    return report


def _state(
    facts: MemberFacts, barrier_state: str | None, barrier_xcom: Mapping[str, Any]
) -> tuple[MemberState, str]:
    main, setup = facts.main_xcom or {}, facts.setup_xcom or {}
    if main.get("state") and facts.main_state in FINAL_TI:
        return MemberState(main["state"]), main.get("reason", "")
    if facts.setup_state == "failed":
        return MemberState.FAILED, setup.get("reason") or "setup failed"
    if barrier_state == "failed" and facts.main_state == "upstream_failed":
        reasons = barrier_xcom.get("reasons", {})
        return MemberState.FAILED, reasons.get(facts.name, barrier_xcom.get("reason", ""))
    if facts.main_state == "upstream_failed" or facts.setup_state == "upstream_failed":
        return MemberState.UPSTREAM_FAILED, "upstream group failed"
    if facts.main_state in ("skipped", "removed"):
        return MemberState.SKIPPED, "skipped in Airflow"
    if facts.main_state == "failed":
        return MemberState.FAILED, main.get("reason") or "task failed in Airflow"
    if facts.main_state == "success":
        return MemberState.SUCCEEDED, main.get("reason", "")
    return _live_state(facts, barrier_state), ""


def _live_state(facts: MemberFacts, barrier_state: str | None) -> MemberState:
    if facts.main_state in RETRY_TI:
        return MemberState.RETRYING
    if facts.main_state == "running":
        return MemberState.RUNNING
    if facts.setup_state in ("running", "queued", "scheduled", "deferred"):
        return MemberState.SETTING_UP
    if facts.setup_state == "success" and barrier_state in ("running", "deferred", "queued"):
        return MemberState.WAITING
    return MemberState.PENDING


def group_state(
    members: Mapping[str, MemberReport], lead: str | None, ignore_nonlead_status: bool
) -> GroupState:
    """The group's state from its members' reports, decided by the core ``GroupEngine``.

    Finished members are fed first, those the group itself stopped last (so a stop's cause is
    seen before its effects), then the engine's group state is the answer.
    """
    if not members:
        return GroupState.PENDING
    names = list(members)
    engine = GroupEngine("group", names, lead if lead in members else None, barrier=False,
                         ignore_nonlead_status=ignore_nonlead_status)
    for name in names:
        for kind in _LIVE_EVENTS.get(members[name].state, ()):
            engine.apply(Event(kind, name))
    finished = [n for n in names if members[n].state.finished]
    finished.sort(key=lambda n: _stopped_by_group(members[n].reason))
    for name in finished:
        report = members[name]
        engine.apply(Event(_FINISH_EVENTS[report.state], name, report.reason))
    if engine.state is GroupState.PENDING and finished:
        return GroupState.RUNNING
    return engine.state


_LIVE_EVENTS = {
    MemberState.SETTING_UP: (EventKind.SETUP_STARTED,),
    MemberState.WAITING: (EventKind.SETUP_STARTED,),
    MemberState.RUNNING: (EventKind.STARTED,),
    MemberState.RETRYING: (EventKind.STARTED,),
}
_FINISH_EVENTS = {
    MemberState.SUCCEEDED: EventKind.SUCCEEDED,
    MemberState.FAILED: EventKind.FAILED,
    MemberState.UPSTREAM_FAILED: EventKind.UPSTREAM_FAILED,
    MemberState.SKIPPED: EventKind.SKIPPED,
}


def _stopped_by_group(reason: str) -> bool:
    return reason == LEAD_FINISHED or (reason.startswith("task ") and reason.endswith(" failed"))
