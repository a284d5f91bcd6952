"""What a group's Airflow task instances mean in groupplug's terms (pure: no Airflow import).

A member is up to two task instances (setup, main) plus, in a barrier group, the group's barrier.
Our operators push what Airflow states cannot say (the reason, the attempt count, the times) as
XCom; this module turns states + XCom into :class:`MemberReport` and the group state. The gate
task runs it at the group's exit; the runner and the status view run it while a run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from groupplug.report import MemberReport
from groupplug.states import GroupState, MemberState, group_state_of_lead

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
    """The group's state from its members' (DESIGN section 3)."""
    states = [m.state for m in members.values()]
    if states and all(s is MemberState.UPSTREAM_FAILED for s in states):
        return GroupState.UPSTREAM_FAILED
    if states and all(s is MemberState.SKIPPED for s in states):
        return GroupState.SKIPPED
    lead_state = members[lead].state if lead in members else None
    if not ignore_nonlead_status and MemberState.FAILED in states:
        if all(s.finished for s in states):
            return GroupState.FAILED
    if lead_state is not None and lead_state.finished and all(s.finished for s in states):
        return group_state_of_lead(lead_state)
    if any(s in (MemberState.RUNNING, MemberState.RETRYING) for s in states):
        return GroupState.RUNNING
    if any(s in (MemberState.SETTING_UP, MemberState.WAITING) for s in states):
        return GroupState.INITIALIZING
    if any(s.finished for s in states):
        return GroupState.RUNNING
    return GroupState.PENDING
