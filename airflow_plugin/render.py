"""A groupplug spec rendered into an Airflow DAG (the neutral model, then this one step).

Each group becomes a ``TaskGroup`` (nested groups nest; tooltip and display name show the lead,
the barrier and the ignore flag). Its members are operators: the ones written inside a
hand-written ``group`` block (``Task.native``), or a :class:`ShellOperator` per YAML ``command``.
Every member goes through the same wiring (:func:`_wire`): a setup task (when it has a setup or
the group has a barrier), the group's deferrable barrier, the member wrap
(:func:`groupplug.airflow.wrap.install`: the group can stop it) and the exit gate; ids are listed
in :mod:`groupplug.airflow.naming`. Groups wait for each other gate -> roots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator, TaskGroup

from groupplug.exceptions import GroupplugValueError, Problem
from groupplug.graph import dependencies, selected_paths
from groupplug.spec import Group, Workflow

from . import naming
from ._compat import is_mapped, operator_retries
from .authoring import SETUP_MARK
from .barrier import GroupBarrierOperator
from .directives import operator_kwargs
from .gate import GroupGateOperator
from .operators import GroupSetupOperator, ShellOperator, launch_fields
from .watch import GroupInfo
from .wrap import install

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
    gang: Collection[str] = (), cwd: str | None = None, **dag_kwargs: Any,
) -> DAG:
    """The DAG of ``workflow`` (only ``selected`` groups, by name or path, when given).

    ``cwd`` is the directory its shell members run in and write relative ``files:`` to
    (``groupplug run`` passes the directory it was started in); None: the worker's own.
    """
    dag_kwargs.setdefault("schedule", None)
    dag_kwargs.setdefault("catchup", False)
    dag_kwargs.setdefault("tags", ["groupplug"])
    dag_kwargs.setdefault("description", f"groupplug workflow {workflow.name}")
    with DAG(dag_id or workflow.name, **dag_kwargs) as dag:
        render_into(dag, workflow, selected=selected, gang=gang, cwd=cwd)
    return dag


def dag_from_yaml(path: str | os.PathLike[str], dag_id: str | None = None, **kwargs: Any) -> DAG:
    """A dags-folder one-liner: ``dag = dag_from_yaml("/path/workflow.yaml")``."""
    from groupplug.loader import load_workflow

    return render_workflow(load_workflow(path, engine="airflow"), dag_id, **kwargs)


def render_into(
    dag: DAG, workflow: Workflow, *, selected: Iterable[str] = (), gang: Collection[str] = (),
    parent: TaskGroup | None = None, existing: Mapping[str, TaskGroup] | None = None,
    earlier: Mapping[str, Rendered] | None = None, cwd: str | None = None,
) -> dict[str, Rendered]:
    """Render every (selected) group of ``workflow`` into ``dag``; returns them by path.

    ``existing`` maps a group's path to the ``TaskGroup`` a hand-written block already filled
    with its members' operators; other groups get a new ``TaskGroup`` and shell operators.
    ``earlier`` holds groups rendered into ``dag`` before (their gates feed ``upstream=``).
    """
    chosen = selected_paths(workflow, list(selected))
    rendered: dict[str, Rendered] = {}
    made = _Context(dag, chosen, set(gang), rendered, dict(existing or {}), cwd)
    for group in workflow.groups:
        _render_group(made, group, "", parent)
    # One set_downstream call per (gate, group) with a list: Airflow hashes the DAG once per task
    # in each call, and per-edge ``>>`` calls doubled the parse time of a 5,000-task DAG.
    gates = {**(earlier or {}), **rendered}
    for path, deps in dependencies(workflow).items():
        if path not in rendered:
            continue
        for dep in deps:
            if dep in gates:
                gates[dep].gate.set_downstream(rendered[path].roots)
    return rendered


@dataclass
class _Context:
    dag: DAG
    chosen: set[str]
    gang: set[str]
    rendered: dict[str, Rendered]
    existing: dict[str, TaskGroup]
    cwd: str | None = None


def _render_group(made: _Context, group: Group, parent_path: str,
                  parent: TaskGroup | None) -> None:
    path = f"{parent_path}.{group.name}" if parent_path else group.name
    if path not in made.chosen:
        return
    if group.implicit:
        ops = {t.name: t.native or _shell(made, group, path, t) for t in group.tasks}
        made.rendered[path] = _wire(made, group, path, "", ops)
        return
    task_group = made.existing.get(path)
    if task_group is None:
        task_group = TaskGroup(group_id=group.name, parent_group=parent, dag=made.dag)
    task_group.tooltip = describe(group)
    task_group.group_display_name = _display_name(group)
    with task_group:
        if group.tasks:
            ops = {t.name: t.native or _shell(made, group, path, t) for t in group.tasks}
            made.rendered[path] = _wire(made, group, path, path, ops)
            made.rendered[path].task_group = task_group
    for child in group.children:
        _render_group(made, child, path, task_group)


def _shell(made: _Context, group: Group, path: str, task: Any) -> BaseOperator:
    """A YAML ``command`` (OSMO's argument vector too, or ``member(name, bash_command)``) as a
    member operator."""
    if task.command is None and not task.argv:
        raise GroupplugValueError([Problem(
            f"group {path!r} member {task.name!r}", "has no command",
            "give it a shell command, or write an operator or @task call inside the group")])
    return ShellOperator(task_id=task.name, command=task.command,
                         launch=launch_fields(task, made.cwd), dag=made.dag,
                         **member_kwargs(group, path, task))


def member_kwargs(group: Group, path: str, task: Any) -> dict[str, Any]:
    """Operator keyword arguments from a member's directives, retries and retry delay."""
    kwargs = operator_kwargs(group.member_directives(task),
                             where=f"group {path!r} member {task.name!r}")
    kwargs.setdefault("retries", task.retries)
    kwargs.setdefault("retry_delay", timedelta(seconds=task.retry_delay))
    return kwargs


def _wire(made: _Context, group: Group, path: str, prefix: str,
          ops: dict[str, Any]) -> Rendered:
    """The one member mechanism: setups, barrier, wrap and gate around member operators."""
    dag = made.dag
    assert group.lead is not None
    lead = group.lead.name
    is_gang = path in made.gang or group.name in made.gang
    if is_gang:
        _check_gang_fits(dag, group, path)
    barrier = group.has_barrier and not is_gang
    first_steps = {n: getattr(op, SETUP_MARK, None) for n, op in ops.items()}
    with_setup = {t.name: bool(t.setup or t.setup_fn or first_steps[t.name]) or barrier
                  for t in group.tasks}
    barrier_task = naming.barrier_id(prefix) if barrier else None
    info = GroupInfo(
        group=path, lead=lead, members=tuple(ops), mains={n: op.task_id for n, op in ops.items()},
        setups={n: naming.setup_id(prefix, n) for n, has in with_setup.items() if has},
        barrier=barrier_task, mapped=tuple(n for n, op in ops.items() if is_mapped(op)),
        ignore_nonlead_status=group.ignore_nonlead_status, barrier_on=barrier, gang=is_gang,
        retries={n: int(operator_retries(op)) for n, op in ops.items()},
        barrier_timeout=group.barrier_timeout)
    if lead in info.mapped:
        raise GroupplugValueError([Problem(
            f"group({group.name!r}).lead", f"{lead!r} is a mapped task (.expand()): its "
            "instances are many members, and a group has one lead",
            "make the lead an unmapped task")])
    setups: dict[str, BaseOperator] = {}
    for task in group.tasks:
        if with_setup[task.name]:
            common = {k: v for k, v in member_kwargs(group, path, task).items()
                      if k in ("pool", "queue", "executor_config")}
            setups[task.name] = GroupSetupOperator(
                task_id=_local(info.setups[task.name], prefix), member=task.name,
                info=info.to_dict(), command=task.setup, python_callable=task.setup_fn,
                launch=launch_fields(task, made.cwd), dag=dag, **common)
            setups[task.name] >> ops[task.name]
            if first_steps[task.name] is not None:
                first_steps[task.name] >> setups[task.name]
        if task.native is not None:
            _apply_directives(ops[task.name], group, path, task)
        install(ops[task.name], info)
    for task in group.tasks:  # inputs between members of one group (non-barrier groups)
        for needed in task.inputs:
            if needed in ops and needed != task.name and task.native is None:
                ops[needed] >> (setups.get(task.name) or ops[task.name])
    result = Rendered(path)
    result.roots = [first_steps.get(n) or setups[n] for n in setups]
    result.roots += [m for n, m in ops.items() if n not in setups]
    if barrier:
        barrier_op = GroupBarrierOperator(
            task_id=_local(barrier_task or "", prefix), group=group.name,
            members={n: info.setups[n] for n in setups}, lead=lead,
            barrier_timeout=group.barrier_timeout, dag=dag)
        barrier_op >> list(ops.values())
        result.roots.append(barrier_op)
    gate = GroupGateOperator(
        task_id=_local(naming.gate_id(prefix, group.name), prefix), group=path, prefix=prefix,
        members=with_setup, lead=lead, ignore_nonlead_status=group.ignore_nonlead_status,
        has_barrier=barrier, info=info.to_dict(), dag=dag,
        # The group's shape travels with the serialized DAG, for the status view.
        doc_json=json.dumps({"groupplug": {
            "group": path, "prefix": prefix, "lead": lead, "members": with_setup,
            "mapped": list(info.mapped),
            "ignore_nonlead_status": group.ignore_nonlead_status, "barrier": barrier}}))
    # The gate waits for every task of the group: a setup still being stopped decides its reason.
    every = {id(t): t for t in [*ops.values(), *setups.values(), *result.roots]}
    gate.set_upstream(list(every.values()))
    result.gate = gate
    return result


def _apply_directives(op: Any, group: Group, path: str, task: Any) -> None:
    """A group's directives for a member written as an operator: set on the operator."""
    if not group.member_directives(task):
        return
    kwargs = operator_kwargs(group.member_directives(task),
                             where=f"group {path!r} member {task.name!r}")
    for key, value in kwargs.items():
        if is_mapped(op):
            op.partial_kwargs[key] = value
        else:
            setattr(op, key, value)


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
