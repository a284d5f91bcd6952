"""A DAG run as a groupplug report, from what Airflow stores (pure: no Airflow import).

Both readers of a run use it: ``groupplug run DAG_FILE.py`` (facts from the REST API) and the
Groups view (facts from the metadata database inside the api-server). The facts are plain
dicts: tasks ``{"task_id", "downstream_task_ids"}``, task instances ``{"task_id", "map_index",
"state", "try_number", "start_date", "end_date"}`` and the ``groupplug_status`` XCom of each
gate that has run.

- A groupplug group is found by its exit gate (``<path>.__gate__``, or ``<task>__gate__`` for a
  task rendered as a singleton group); once the gate has run, the group is exactly what the gate
  published (decided by the core status engine inside the run).
- Before that (a live run) the group shows its members' task-instance states as they are, with
  no verdict: no rule of DESIGN section 3 is applied here, the gate applies them.
- Every other task is a singleton group of itself (DESIGN section 1), so a plain task that
  failed is in the report as it is in the DAG run.
- Groups come upstream first (topological order of the DAG); TaskGroups that only hold groups
  appear as parents, just before their first child, with a rolled-up state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from groupplug.exceptions import GroupplugError
from groupplug.report import GroupReport, MemberReport, RunReport, roll_up_parents
from groupplug.states import GroupState, MemberState

from . import naming

GATE_SUFFIX = "." + naming.GATE
#: How a task instance's state reads as a member's state.
TI_MEMBER = {
    "success": MemberState.SUCCEEDED, "failed": MemberState.FAILED,
    "upstream_failed": MemberState.UPSTREAM_FAILED, "skipped": MemberState.SKIPPED,
    "removed": MemberState.SKIPPED, "running": MemberState.RUNNING,
    "deferred": MemberState.RUNNING, "up_for_retry": MemberState.RETRYING,
    "up_for_reschedule": MemberState.RUNNING, "restarting": MemberState.RETRYING,
}
_LIVE = frozenset({"running", "deferred", "queued", "scheduled", "up_for_retry",
                   "up_for_reschedule", "restarting"})

Facts = Mapping[str, Any]


def group_path(gate_task_id: str) -> str:
    """``train.__gate__`` -> ``train``; a singleton's ``prepare__gate__`` -> ``prepare``."""
    if gate_task_id.endswith(GATE_SUFFIX):
        return gate_task_id[: -len(GATE_SUFFIX)]
    return gate_task_id[: -len(naming.GATE)]


def dag_order(tasks: Iterable[Facts]) -> list[str]:
    """Task ids upstream first (Kahn's algorithm; ties keep the given order)."""
    tasks = list(tasks)
    downstream = {t["task_id"]: list(t.get("downstream_task_ids") or ()) for t in tasks}
    indegree = dict.fromkeys(downstream, 0)
    for downs in downstream.values():
        for down in downs:
            if down in indegree:
                indegree[down] += 1
    ready = [i for i in downstream if indegree[i] == 0]
    order: list[str] = []
    while ready:
        task_id = ready.pop(0)
        order.append(task_id)
        for down in downstream[task_id]:
            if down in indegree:
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
    return order


def stamp(value: Any) -> float | None:
    """Unix seconds of an ISO string or a datetime (None stays None)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def ti_member(ti: Facts) -> MemberReport:
    """One task instance as a member, its state as Airflow has it."""
    state = TI_MEMBER.get(ti.get("state") or "", MemberState.PENDING)
    return MemberReport(state=state, attempts=int(ti.get("try_number") or 0),
                        started_at=stamp(ti.get("start_date")),
                        finished_at=stamp(ti.get("end_date")) if state.finished else None)


def _keyed(name: str, tis: Iterable[Facts]) -> dict[str, Facts]:
    """A task's instances by member key: ``name``, or ``name[0]``, ``name[1]``... if mapped."""
    out = {}
    for ti in sorted(tis, key=lambda t: t.get("map_index", -1)):
        index = ti.get("map_index", -1)
        out[name if index is None or index < 0 else f"{name}[{index}]"] = ti
    return out


def plain_group(task_id: str, tis: Iterable[Facts]) -> GroupReport:
    """A task outside every group: a singleton group (mapped: one member per instance)."""
    members = {k: ti_member(ti) for k, ti in _keyed(task_id.rsplit(".")[-1], tis).items()}
    states = [m.state for m in members.values()] or [MemberState.PENDING]
    if any(not s.finished for s in states):
        state = GroupState.PENDING if all(s is MemberState.PENDING for s in states) \
            else GroupState.RUNNING
    elif MemberState.FAILED in states:
        state = GroupState.FAILED
    elif MemberState.UPSTREAM_FAILED in states:
        state = GroupState.UPSTREAM_FAILED
    elif all(s is MemberState.SKIPPED for s in states):
        state = GroupState.SKIPPED
    else:
        state = GroupState.SUCCEEDED
    return GroupReport(state=state, lead=next(iter(members)) if len(members) == 1 else None,
                       members=members)


def published_group(status: Mapping[str, Any]) -> GroupReport:
    """The group exactly as its gate published it."""
    return GroupReport(
        state=GroupState(status["state"]), lead=status.get("lead"),
        members={n: MemberReport.from_json(m) for n, m in status["members"].items()})


def _helper(local: str) -> bool:
    """groupplug's own tasks in a group (barrier, gate, setups): not members themselves."""
    return local.startswith("__") or local.endswith("__") or local.endswith(naming.SETUP_SUFFIX)


def live_group(path: str, gate: str, lead: str | None, tis: Mapping[str, list[Facts]],
               nested: Iterable[str]) -> GroupReport:
    """A group whose gate has not run: its members' task-instance states, as they are now.

    A member whose setup runs shows ``setting_up``; set up and held by the barrier, ``waiting``.
    """
    prefix = path if gate.endswith(GATE_SUFFIX) else ""
    inner = [p + "." for p in nested]
    barrier = (tis.get(naming.barrier_id(prefix)) or [{}])[0].get("state")
    members: dict[str, MemberReport] = {}
    for task_id, instances in tis.items():
        if prefix:
            if not task_id.startswith(prefix + ".") or any(task_id.startswith(i) for i in inner):
                continue
            local = task_id[len(prefix) + 1:]
        elif task_id != path:
            continue
        else:
            local = path
        if _helper(local):
            continue
        setup = (tis.get(naming.setup_id(prefix, local)) or [{}])[0]
        for key, ti in _keyed(local, instances).items():
            member = ti_member(ti)
            if member.state is MemberState.PENDING and setup.get("state") in _LIVE:
                member.state = MemberState.SETTING_UP
            elif (member.state is MemberState.PENDING and setup.get("state") == "success"
                  and barrier in _LIVE):
                member.state = MemberState.WAITING
            member.setup_finished_at = stamp(setup.get("end_date"))
            members[key] = member
    states = {m.state for m in members.values()}
    if states & {MemberState.RUNNING, MemberState.RETRYING} or any(s.finished for s in states):
        state = GroupState.RUNNING
    elif states & {MemberState.SETTING_UP, MemberState.WAITING}:
        state = GroupState.INITIALIZING
    else:
        state = GroupState.PENDING
    return GroupReport(state=state, lead=lead, members=members)


def _owned(task_id: str, gates: Mapping[str, str]) -> bool:
    """Whether ``task_id`` belongs to a groupplug group (a member, setup, barrier or gate)."""
    for gate, path in gates.items():
        if gate.endswith(GATE_SUFFIX):
            if task_id.startswith(path + "."):
                return True
        elif task_id in (path, naming.setup_id("", path), gate):
            return True
    return False


def build_report(
    dag_id: str, run_id: str, tasks: Iterable[Facts], tis: Iterable[Facts],
    status_of: Callable[[str], Mapping[str, Any] | None], *, live: bool,
    leads: Mapping[str, str] | None = None,
) -> RunReport:
    """The run's report. ``status_of(gate_task_id)`` is the gate's published status or None;
    with ``live=False`` (a finished run) a gate without one is an error naming the group."""
    order = dag_order(tasks)
    gates = {t: group_path(t) for t in order if t.endswith(naming.GATE)}
    by_task: dict[str, list[Facts]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    report = RunReport(workflow=dag_id, engine="airflow", run_id=run_id)
    for task_id in order:
        if task_id in gates:
            path = gates[task_id]
            status = status_of(task_id)
            if status is not None:
                report.groups[path] = published_group(status)
            elif live:
                nested = [p for p in gates.values() if p.startswith(path + ".")]
                report.groups[path] = live_group(path, task_id, (leads or {}).get(path),
                                                 by_task, nested)
            else:
                state = (by_task.get(task_id) or [{}])[0].get("state")
                raise GroupplugError(f"group {path}: its gate {task_id} left no status in run "
                                     f"{run_id} (the gate's task state: {state}); see its log")
        elif not _owned(task_id, gates):
            report.groups[task_id] = plain_group(task_id, by_task.get(task_id, []))
    runnable = set(report.groups)
    for path in list(report.groups):
        parts = path.split(".")
        for depth in range(1, len(parts)):
            report.groups.setdefault(".".join(parts[:depth]), GroupReport())
    paths = list(report.groups)
    report.groups = {p: report.groups[p] for p in sorted(paths, key=lambda p: _place(p, paths))}
    roll_up_parents(report, runnable)
    return report


def _place(path: str, paths: list[str]) -> tuple[int, int]:
    """Sort key: a parent just before its first child, the rest in report order."""
    index = min(i for i, p in enumerate(paths) if p == path or p.startswith(path + "."))
    return index, path.count(".")
