"""A groupplug spec rendered into an Airflow DAG (the neutral model, then this one step).

Each group becomes a ``TaskGroup`` (nested groups nest; tooltip and display name show the lead,
the barrier and the ignore flag) holding, per member, a setup task (when it has a setup or the
group has a barrier) and a main task, plus the group's barrier and its exit gate; ids are listed
in :mod:`groupplug.airflow.naming`. Groups wait for each other gate -> roots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator, TaskGroup

from groupplug.exceptions import GroupplugValueError, Problem
from groupplug.graph import dependencies, selected_paths
from groupplug.spec import Group, Workflow

from . import naming
from .barrier import GroupBarrierOperator
from .directives import operator_kwargs
from .gate import GroupGateOperator
from .operators import GroupMemberOperator, GroupSetupOperator

DEFAULT_POOL_SLOTS = 128


@dataclass
class Rendered:
    """The tasks one runnable group rendered to."""

    path: str
    roots: list[BaseOperator] = field(default_factory=list)
    gate: BaseOperator | None = None
    task_group: TaskGroup | None = None


def describe(group: Group) -> str:
    """The tooltip text: lead, barrier and the ignore flag."""
    lead = group.lead.name if group.lead else "none (parent group)"
    barrier = "on" if group.has_barrier else "off"
    if group.has_barrier and group.barrier_timeout:
        barrier += f", timeout {group.barrier_timeout:g}s"
    text = f"lead: {lead} | barrier: {barrier} | ignore non-lead status: " \
           f"{str(group.ignore_nonlead_status).lower()}"
    return f"{group.tooltip} ({text})" if group.tooltip else text


def _display_name(group: Group) -> str:
    if not group.tasks:
        return group.name
    flags = [f"lead={group.lead.name}"] if group.lead else []
    flags += ["barrier"] if group.has_barrier else []
    flags += [] if group.ignore_nonlead_status else ["strict"]
    return f"{group.name} [{', '.join(flags)}]"


def render_workflow(
    workflow: Workflow, dag_id: str | None = None, *, selected: Iterable[str] = (),
    gang: Collection[str] = (), **dag_kwargs: Any,
) -> DAG:
    """The DAG of ``workflow`` (only ``selected`` groups, by name or path, when given)."""
    dag_kwargs.setdefault("schedule", None)
    dag_kwargs.setdefault("catchup", False)
    dag_kwargs.setdefault("tags", ["groupplug"])
    dag_kwargs.setdefault("description", f"groupplug workflow {workflow.name}")
    with DAG(dag_id or workflow.name, **dag_kwargs) as dag:
        render_into(dag, workflow, selected=selected, gang=gang)
    return dag


def dag_from_yaml(path: str | os.PathLike[str], dag_id: str | None = None, **kwargs: Any) -> DAG:
    """A dags-folder one-liner: ``dag = dag_from_yaml("/path/workflow.yaml")``."""
    from groupplug.loader import load_workflow

    return render_workflow(load_workflow(path, engine="airflow"), dag_id, **kwargs)


def render_into(
    dag: DAG, workflow: Workflow, *, selected: Iterable[str] = (), gang: Collection[str] = (),
    parent: TaskGroup | None = None,
) -> dict[str, Rendered]:
    """Render every (selected) group of ``workflow`` into ``dag``; returns them by path."""
    chosen = selected_paths(workflow, list(selected))
    rendered: dict[str, Rendered] = {}
    for group in workflow.groups:
        _render_group(dag, group, "", parent, chosen, set(gang), rendered)
    # One set_downstream call per (gate, group) with a list: Airflow hashes the DAG once per task
    # in each call, and per-edge ``>>`` calls doubled the parse time of a 5,000-task DAG.
    for path, deps in dependencies(workflow).items():
        if path not in rendered:
            continue
        for dep in deps:
            if dep in rendered:
                rendered[dep].gate.set_downstream(rendered[path].roots)
    return rendered


def _render_group(
    dag: DAG, group: Group, parent_path: str, parent: TaskGroup | None, chosen: set[str],
    gang: set[str], rendered: dict[str, Rendered],
) -> None:
    path = f"{parent_path}.{group.name}" if parent_path else group.name
    if path not in chosen:
        return
    if group.implicit:
        rendered[path] = _render_members(dag, group, path, "", gang)
        return
    with TaskGroup(group_id=group.name, tooltip=describe(group), parent_group=parent,
                   group_display_name=_display_name(group), dag=dag) as task_group:
        if group.tasks:
            rendered[path] = _render_members(dag, group, path, path, gang)
            rendered[path].task_group = task_group
        for child in group.children:
            _render_group(dag, child, path, task_group, chosen, gang, rendered)


def _render_members(dag: DAG, group: Group, path: str, prefix: str, gang: set[str]) -> Rendered:
    assert group.lead is not None
    lead = group.lead.name
    is_gang = path in gang or group.name in gang
    if is_gang:
        _check_gang_fits(dag, group, path)
    barrier = group.has_barrier and not is_gang
    peers = {t.name: naming.main_id(prefix, t.name) for t in group.tasks}
    result = Rendered(path)
    members_with_setup: dict[str, bool] = {}
    setups: dict[str, BaseOperator] = {}
    mains: dict[str, BaseOperator] = {}
    barrier_task = naming.barrier_id(prefix) if barrier else None
    for task in group.tasks:
        where = f"group {path!r} member {task.name!r}"
        kwargs = operator_kwargs(group.member_directives(task), where=where)
        kwargs.setdefault("retries", task.retries)
        kwargs.setdefault("retry_delay", timedelta(seconds=task.retry_delay))
        common = {k: kwargs[k] for k in ("pool", "queue", "executor_config") if k in kwargs}
        has_setup = bool(task.setup) or barrier
        members_with_setup[task.name] = has_setup
        if has_setup:
            setups[task.name] = GroupSetupOperator(
                task_id=_local(naming.setup_id(prefix, task.name), prefix), command=task.setup,
                member=task.name, group=prefix, lead_main=peers[lead],
                barrier_task=barrier_task, dag=dag, **common)
        if task.command is None:
            raise GroupplugValueError([Problem(where, "has no command",
                                               "Airflow members run a shell command")])
        mains[task.name] = GroupMemberOperator(
            task_id=_local(peers[task.name], prefix), command=task.command, member=task.name,
            group=path, lead=lead, peers=peers,
            ignore_nonlead_status=group.ignore_nonlead_status, gang=is_gang, dag=dag, **kwargs)
    for name, main in mains.items():
        if name in setups:
            setups[name] >> main
    for task in group.tasks:  # inputs between members of one group (non-barrier groups)
        for needed in task.inputs:
            if needed in mains and needed != task.name:
                mains[needed] >> (setups.get(task.name) or mains[task.name])
    result.roots = list(setups.values()) + [m for n, m in mains.items() if n not in setups]
    if barrier:
        barrier_op = GroupBarrierOperator(
            task_id=_local(barrier_task or "", prefix), group=group.name,
            members={n: naming.setup_id(prefix, n) for n in setups}, lead=lead,
            barrier_timeout=group.barrier_timeout, dag=dag)
        barrier_op >> list(mains.values())
        result.roots.append(barrier_op)
    gate = GroupGateOperator(
        task_id=_local(naming.gate_id(prefix, group.name), prefix), group=path, prefix=prefix,
        members=members_with_setup, lead=lead, ignore_nonlead_status=group.ignore_nonlead_status,
        has_barrier=barrier, dag=dag,
        # The group's shape travels with the serialized DAG, for the status view.
        doc_json=json.dumps({"groupplug": {
            "group": path, "prefix": prefix, "lead": lead, "members": members_with_setup,
            "ignore_nonlead_status": group.ignore_nonlead_status, "barrier": barrier}}))
    # The gate waits for every task of the group: a setup still being stopped decides its reason.
    every = {id(t): t for t in [*mains.values(), *setups.values(), *result.roots]}
    gate.set_upstream(list(every.values()))
    result.gate = gate
    return result


def _local(task_id: str, prefix: str) -> str:
    """The id relative to the enclosing TaskGroup (which adds its own prefix)."""
    return task_id[len(prefix) + 1:] if prefix and task_id.startswith(prefix + ".") else task_id


def _check_gang_fits(dag: DAG, group: Group, path: str) -> None:
    """Gang members must all run at once: refuse a group no slot budget can ever hold."""
    size = len(group.tasks)
    limits = {"the DAG's max_active_tasks": dag.max_active_tasks}
    pools = {group.member_directives(t).get("pool", "default_pool") for t in group.tasks}
    if pools == {"default_pool"}:
        from airflow.configuration import conf

        limits["default_pool"] = conf.getint("core", "default_pool_task_slot_count",
                                             fallback=DEFAULT_POOL_SLOTS)
    for what, slots in limits.items():
        if slots is not None and size > slots:
            raise GroupplugValueError([Problem(
                f"group {path!r}", f"gang group of {size} members can never run at once: "
                f"{what} gives it {slots} slots", f"raise {what} to at least {size} or make the "
                "group smaller")])
