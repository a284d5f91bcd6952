"""The gate at a group's exit: the group's state, as data (XCom) and as its own task state.

It runs when every task of the group is done (``all_done``), turns their states and XCom into
member reports and the group state (:mod:`groupplug.airflow.outcome`), pushes them as XCom
``groupplug_status`` and fails when the group failed, so downstream groups end
``upstream_failed`` and never start. Downstream groups hang off the gate alone: one edge per
downstream root instead of the leaves x roots edges ``group >> group`` makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from groupplug.states import GroupState

from . import naming
from ._compat import AirflowFailException
from .barrier import INFRA_RETRIES
from .outcome import MemberFacts, group_state, member_report
from .watch import as_record, map_indexes, member_key


class GroupGateOperator(BaseOperator):
    """Computes and publishes the state of group ``group`` (dotted path)."""

    ui_color = "#d3f9d8"

    def __init__(
        self, *, group: str, prefix: str, members: Mapping[str, bool], lead: str,
        ignore_nonlead_status: bool, has_barrier: bool, info: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("trigger_rule", "all_done")
        # A group's failure raises AirflowFailException (never retried); retries only cover
        # an infrastructure failure of the gate itself.
        kwargs.setdefault("retries", INFRA_RETRIES)
        kwargs.setdefault("retry_delay", timedelta(seconds=1))
        super().__init__(**kwargs)
        self.group = group
        self.prefix = prefix
        self.members = dict(members)  # name -> has a setup task
        self.lead = lead
        self.ignore_nonlead_status = ignore_nonlead_status
        self.has_barrier = has_barrier
        self.info = dict(info or {})

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        status = read_status(ti, self)
        ti.xcom_push(key=naming.XCOM_STATUS, value=status)
        self.log.info("groupplug: group %s is %s (%s)", self.group, status["state"],
                      ", ".join(f"{n}={m['state']}" for n, m in status["members"].items()))
        if status["state"] in (GroupState.FAILED.value, GroupState.UPSTREAM_FAILED.value):
            lead = status["members"].get(self.lead, {})
            raise AirflowFailException(
                f"group {self.group} {status['state']}: lead {self.lead} "
                f"{lead.get('state')} {lead.get('reason', '')}".rstrip())
        return status


def read_status(ti: Any, gate: GroupGateOperator) -> dict[str, Any]:
    """The group's status from its task instances, read through the Task SDK.

    A mapped member's instances are reported as ``name[0]``, ``name[1]``, ...
    """
    ids = {n: gate.info.get("mains", {}).get(n) or naming.main_id(gate.prefix, n)
           for n in gate.members}
    mapped = set(gate.info.get("mapped", ()))
    setups = {n: naming.setup_id(gate.prefix, n) for n, has in gate.members.items() if has}
    barrier = naming.barrier_id(gate.prefix) if gate.has_barrier else None
    wanted = [*ids.values(), *setups.values(), *([barrier] if barrier else [])]
    answer = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=wanted)
    states = answer.get(ti.run_id, {})

    def pull(task_id: str | None, key: str, index: int | None = None) -> Any:
        if not task_id:
            return None
        if index is None:
            return as_record(ti.xcom_pull(task_ids=task_id, key=key))
        return as_record(ti.xcom_pull(task_ids=task_id, key=key, map_indexes=index))

    barrier_xcom = pull(barrier, naming.XCOM_BARRIER)
    members = {}
    for name, main in ids.items():
        setup_state = states.get(setups.get(name, ""))
        setup_xcom = pull(setups.get(name), naming.XCOM_SETUP)
        if name in mapped:
            for index in map_indexes(states, main):
                facts = MemberFacts(name, states.get(f"{main}_{index}"), setup_state,
                                    pull(main, naming.XCOM_MEMBER, index), setup_xcom)
                members[member_key(name, index)] = member_report(
                    facts, states.get(barrier or ""), barrier_xcom)
            if map_indexes(states, main):
                continue
        facts = MemberFacts(name, states.get(main), setup_state,
                            pull(main, naming.XCOM_MEMBER), setup_xcom)
        members[name] = member_report(facts, states.get(barrier or ""), barrier_xcom)
    state = group_state(members, gate.lead, gate.ignore_nonlead_status)
    return {"state": state.value, "lead": gate.lead,
            "members": {n: m.to_json() for n, m in members.items()}}
