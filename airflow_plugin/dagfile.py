"""``groupplug run DAG_FILE.py [--dag-id ID] --engine airflow``: a hand-written DAG file, run.

The file goes into the dags folder of an :class:`EmbeddedAirflow` (or the one in
``options["airflow"]``) as it is; the dag-processor parses it (an import error is a
:class:`GroupplugError` carrying Airflow's own stack trace, exit 2), the chosen DAG is
triggered through the REST API and followed, and the report is read from what the run left:

- every groupplug group's exit gate (``<path>.__gate__``) pushed XCom ``groupplug_status``
  (``{"state", "lead", "members": {task id inside the group: MemberReport}}``), decided by the
  core status engine inside the run; the group's key is its dotted TaskGroup path;
- every other task of the DAG is a singleton group of itself (DESIGN section 1), its state
  taken from its task instance, so a plain task that failed next to succeeding groups fails the
  report as it failed the DAG run;
- TaskGroups that only hold groups appear as parents with a rolled-up state.

Like :mod:`groupplug.airflow.runner` it never imports Airflow: everything goes through the API.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from groupplug.exceptions import GroupplugError
from groupplug.report import GroupReport, MemberReport, RunReport, roll_up_parents
from groupplug.states import GroupState, MemberState

from . import naming

log = logging.getLogger(__name__)

GATE_SUFFIX = "." + naming.GATE
#: How a plain task instance's state reads as a singleton group member.
_TI_MEMBER = {
    "success": MemberState.SUCCEEDED, "failed": MemberState.FAILED,
    "upstream_failed": MemberState.UPSTREAM_FAILED, "skipped": MemberState.SKIPPED,
    "removed": MemberState.SKIPPED, "running": MemberState.RUNNING,
    "deferred": MemberState.RUNNING, "up_for_retry": MemberState.RETRYING,
    "up_for_reschedule": MemberState.RUNNING, "restarting": MemberState.RETRYING,
}
_MEMBER_GROUP = {
    MemberState.SUCCEEDED: GroupState.SUCCEEDED, MemberState.FAILED: GroupState.FAILED,
    MemberState.UPSTREAM_FAILED: GroupState.UPSTREAM_FAILED,
    MemberState.SKIPPED: GroupState.SKIPPED, MemberState.PENDING: GroupState.PENDING,
}


def run_dag_file(path: str, dag_id: str | None, options: Mapping[str, Any]) -> RunReport:
    """Run DAG ``dag_id`` of the file at ``path`` (None: its only DAG); its report."""
    source = Path(path).resolve()
    if not source.is_file():
        raise GroupplugError(f"{path}: no such file")
    airflow = options.get("airflow")
    if airflow is not None:
        return _run(airflow, source, dag_id, options)
    from ._server import EmbeddedAirflow

    # Helper modules next to the DAG file import as they do in the user's own dags folder.
    pythonpath = os.pathsep.join(p for p in (str(source.parent), os.environ.get("PYTHONPATH"))
                                 if p)
    with EmbeddedAirflow(extra_env={"PYTHONPATH": pythonpath}) as airflow:
        return _run(airflow, source, dag_id, options)


def _run(airflow: Any, source: Path, dag_id: str | None, options: Mapping[str, Any]) -> RunReport:
    client = airflow.client()
    placed = place(airflow.dags_folder, source)
    found = wait_for_file(client, airflow.dags_folder, placed,
                          float(options.get("parse_timeout", 120)))
    chosen = choose_dag(source, found, dag_id)
    run_id = f"groupplug__{uuid.uuid4().hex[:10]}"
    client.trigger(chosen, run_id)
    log.info("triggered %s run %s on %s", chosen, run_id, airflow.url)
    final = follow(client, chosen, run_id, float(options.get("timeout", 3600)))
    report = read_report(client, chosen, run_id)
    if final == "failed" and report.state == "succeeded":
        raise GroupplugError(  # never report a run Airflow failed as a success
            f"Airflow marked run {run_id} of {chosen} failed, yet every group succeeded; "
            f"see the task logs in {airflow.home / 'logs'} (GROUPPLUG_KEEP_AIRFLOW_HOME=1 keeps "
            "them)")
    return report


def place(dags_folder: Path, source: Path) -> Path:
    """Copy ``source`` into ``dags_folder`` under its own name (another name if a different
    file already has it); the dag-processor never sees half a file."""
    data = source.read_bytes()
    target = dags_folder / source.name
    if target.exists() and target.read_bytes() != data:
        digest = hashlib.sha1(data).hexdigest()[:8]  # noqa: S324 - a name, not a secret
        target = dags_folder / f"{source.stem}_{digest}.py"
    if not target.exists():
        tmp = dags_folder / f".{target.name}.tmp"
        tmp.write_bytes(data)
        tmp.rename(target)
    return target


def wait_for_file(client: Any, dags_folder: Path, placed: Path, timeout: float) -> list[str]:
    """The ids of the DAGs the file defines, once parsed; its import error raised as one."""
    relative = str(placed.relative_to(dags_folder))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errors = client.import_errors(relative)
        if errors:
            raise GroupplugError(f"{placed.name}: the DAG file failed to import:\n"
                                 + "\n".join(errors))
        dags = client.dags_in_file(str(placed))
        if dags:
            return dags
        time.sleep(0.5)
    raise GroupplugError(
        f"{placed.name}: Airflow found no DAG in it within {timeout:.0f}s; a DAG file creates its "
        "DAGs when imported: 'with DAG(...):' at module level, or call the @dag function")


def choose_dag(source: Path, found: list[str], dag_id: str | None) -> str:
    """The DAG to run: ``dag_id``, or the file's only DAG; a usage error otherwise."""
    listed = ", ".join(found)
    if dag_id is None:
        if len(found) == 1:
            return found[0]
        raise GroupplugError(f"{source.name} defines {len(found)} DAGs ({listed}); pick one with "
                             f"--dag-id ID (or {source.name}:ID)")
    if dag_id not in found:
        raise GroupplugError(f"{source.name} has no DAG {dag_id!r}; its DAGs: {listed}")
    return dag_id


def follow(client: Any, dag_id: str, run_id: str, timeout: float) -> str:
    """Wait for the run to end; its final Airflow state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.dag_run(dag_id, run_id)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(1.0)
    raise GroupplugError(f"Airflow run {run_id} of {dag_id} did not finish in {timeout:.0f}s")


def group_path(gate_task_id: str) -> str:
    """``train.__gate__`` -> ``train``; a singleton's ``prepare__gate__`` -> ``prepare``."""
    if gate_task_id.endswith(GATE_SUFFIX):
        return gate_task_id[: -len(GATE_SUFFIX)]
    return gate_task_id[: -len(naming.GATE)]


def dag_order(tasks: list[dict[str, Any]]) -> list[str]:
    """Task ids upstream first (Kahn's algorithm; ties keep the API's order)."""
    ids = [t["task_id"] for t in tasks]
    indegree = dict.fromkeys(ids, 0)
    for task in tasks:
        for down in task.get("downstream_task_ids", []):
            if down in indegree:
                indegree[down] += 1
    downstream = {t["task_id"]: t.get("downstream_task_ids", []) for t in tasks}
    ready = [i for i in ids if indegree[i] == 0]
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


def _owned(task_id: str, gates: Mapping[str, str]) -> bool:
    """Whether ``task_id`` belongs to a groupplug group (its member, setup, barrier or gate)."""
    for gate, path in gates.items():
        if gate.endswith(GATE_SUFFIX):
            if task_id.startswith(path + "."):
                return True
        elif task_id in (path, naming.setup_id("", path), gate):
            return True
    return False


def _stamp(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _plain_member(ti: dict[str, Any]) -> MemberReport:
    state = _TI_MEMBER.get(ti.get("state") or "", MemberState.PENDING)
    return MemberReport(state=state, attempts=int(ti.get("try_number") or 0),
                        started_at=_stamp(ti.get("start_date")),
                        finished_at=_stamp(ti.get("end_date")) if state.finished else None)


def _plain_group(tis: list[dict[str, Any]], name: str) -> GroupReport:
    """A task outside every group: a singleton group (mapped: one member per instance)."""
    members: dict[str, MemberReport] = {}
    for ti in sorted(tis, key=lambda t: t.get("map_index", -1)):
        index = ti.get("map_index", -1)
        members[name if index < 0 else f"{name}[{index}]"] = _plain_member(ti)
    states = [m.state for m in members.values()]
    if any(not s.finished for s in states):
        state = GroupState.RUNNING if any(s is not MemberState.PENDING for s in states) \
            else GroupState.PENDING
    elif MemberState.FAILED in states:
        state = GroupState.FAILED
    elif MemberState.UPSTREAM_FAILED in states:
        state = GroupState.UPSTREAM_FAILED
    elif all(s is MemberState.SKIPPED for s in states):
        state = GroupState.SKIPPED
    else:
        state = GroupState.SUCCEEDED
    lead = next(iter(members)) if len(members) == 1 else None
    return GroupReport(state=state, lead=lead, members=members)


def read_report(client: Any, dag_id: str, run_id: str) -> RunReport:
    """The run's report: groups from their gates, plain tasks as singleton groups, in DAG
    order, parents (TaskGroups holding groups) rolled up."""
    order = dag_order(client.tasks(dag_id))
    gates = {t: group_path(t) for t in order if t.endswith(naming.GATE)}
    tis: dict[str, list[dict[str, Any]]] = {}
    for ti in client.task_instances(dag_id, run_id):
        tis.setdefault(ti["task_id"], []).append(ti)
    report = RunReport(workflow=dag_id, engine="airflow", run_id=run_id)
    for task_id in order:
        if task_id in gates:
            report.groups[gates[task_id]] = _gate_group(client, dag_id, run_id, task_id,
                                                        gates[task_id], tis)
        elif not _owned(task_id, gates):
            report.groups[task_id] = _plain_group(tis.get(task_id, []), task_id.rsplit(".")[-1])
    runnable = set(report.groups)
    for path in list(report.groups):
        parts = path.split(".")
        for depth in range(1, len(parts)):
            report.groups.setdefault(".".join(parts[:depth]), GroupReport())
    report.groups = {p: report.groups[p] for p in _parents_first(list(report.groups))}
    roll_up_parents(report, runnable)
    return report


def _parents_first(paths: list[str]) -> list[str]:
    """Each parent just before its first child, the rest in the given order."""
    out: list[str] = []
    for path in sorted(paths, key=lambda p: _first_index(p, paths)):
        if path not in out:
            out.append(path)
    return out


def _first_index(path: str, paths: list[str]) -> tuple[int, int]:
    index = min(i for i, p in enumerate(paths) if p == path or p.startswith(path + "."))
    return index, path.count(".")


def _gate_group(client: Any, dag_id: str, run_id: str, gate: str, path: str,
                tis: Mapping[str, list[dict[str, Any]]]) -> GroupReport:
    status = client.xcom(dag_id, run_id, gate, naming.XCOM_STATUS)
    if status is None:
        gate_state = (tis.get(gate) or [{}])[0].get("state")
        raise GroupplugError(f"group {path}: its gate {gate} left no status in run {run_id} "
                             f"(the gate's task state: {gate_state}); see its task log")
    return GroupReport(
        state=GroupState(status["state"]), lead=status.get("lead"),
        members={n: MemberReport.from_json(m) for n, m in status["members"].items()})
