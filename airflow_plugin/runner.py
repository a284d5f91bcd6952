"""``groupplug run FILE --engine airflow``: the workflow as a DAG run on a real Airflow.

It starts an :class:`EmbeddedAirflow` (or uses the one in ``options["airflow"]``), writes the
spec and a one-line DAG file into its dags folder, triggers a run through the REST API, follows
it, and reads every group's status from its gate (XCom ``groupplug_status``) into a
:class:`RunReport`. It never imports Airflow itself: everything goes through the API.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from groupplug import interrupts
from groupplug.exceptions import GroupplugError
from groupplug.graph import selected_paths
from groupplug.loader import dump_workflow
from groupplug.report import GroupReport, MemberReport, RunReport, roll_up_parents
from groupplug.spec import Workflow
from groupplug.states import GroupState, MemberState

from . import abort, naming
from .runstate import live_group

log = logging.getLogger(__name__)

DAG_FILE = """\
# Written by groupplug: the workflow {name!r} as a DAG.
from groupplug.airflow import dag_from_yaml

dag = dag_from_yaml({spec!r}, {dag_id!r}, selected={selected!r}, cwd={cwd!r})
"""


def dag_id_for(workflow: Workflow) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"groupplug_{workflow.name}_{uuid.uuid4().hex[:6]}")


def write_dag(airflow: Any, workflow: Workflow, dag_id: str, selected: Sequence[str]) -> None:
    """Put the spec and its one-line DAG file into ``airflow``'s dags folder."""
    specs = airflow.home / "specs"
    specs.mkdir(exist_ok=True)
    spec = specs / f"{dag_id}.yaml"
    spec.write_text(dump_workflow(workflow))
    # Members run where 'groupplug run' was started, as on the local engine (their commands'
    # relative paths and files:), not in the scheduler's directory.
    text = DAG_FILE.format(name=workflow.name, spec=str(spec), dag_id=dag_id,
                           selected=list(selected), cwd=os.getcwd())
    tmp = airflow.dags_folder / f".{dag_id}.py.tmp"
    tmp.write_text(text)
    tmp.rename(airflow.dags_folder / f"{dag_id}.py")  # the dag-processor never sees half a file


def run_workflow(
    workflow: Workflow, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport:
    from ._server import EmbeddedAirflow
    from .stack import stack_airflow

    airflow = options.get("airflow") or stack_airflow(options)
    if airflow is not None:
        return _run(airflow, workflow, groups, options)
    with EmbeddedAirflow() as airflow:
        return _run(airflow, workflow, groups, options)


def _run(airflow: Any, workflow: Workflow, groups: Sequence[str],
         options: Mapping[str, Any]) -> RunReport:
    client = airflow.client()
    dag_id = options.get("dag_id") or dag_id_for(workflow)
    write_dag(airflow, workflow, dag_id, groups)
    client.wait_for_dag(dag_id)
    run_id = f"groupplug__{uuid.uuid4().hex[:10]}"
    client.trigger(dag_id, run_id)
    log.info("triggered %s run %s on %s", dag_id, run_id, airflow.url)
    final = follow(client, workflow, dag_id, run_id, groups, options.get("on_update"),
                   float(options.get("timeout", 3600)), services=airflow)
    if final == "interrupted":  # no gate decided: what the task instances say, marked so
        report = live_report(client, workflow, dag_id, run_id, groups)
        return abort.mark_interrupted(report, interrupts.requested() or "interrupted")
    return read_report(client, workflow, dag_id, run_id, groups)


def follow(client: Any, workflow: Workflow, dag_id: str, run_id: str, groups: Sequence[str],
           on_update: Callable[[RunReport], None] | None, timeout: float,
           services: Any = None) -> str:
    """Wait for the run to end (live reports to ``on_update``); its final Airflow state, or
    ``interrupted`` when Ctrl-C or SIGTERM ended it (:mod:`.abort`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if abort.check(client, dag_id, run_id, services) is not None:
            return "interrupted"
        state = client.dag_run(dag_id, run_id)["state"]
        if on_update is not None:
            on_update(live_report(client, workflow, dag_id, run_id, groups))
        if state in ("success", "failed"):
            return state
        time.sleep(1.0)
    raise GroupplugError(f"Airflow run {run_id} of {dag_id} did not finish in {timeout:.0f}s")


def _skeleton(workflow: Workflow, dag_id: str, run_id: str, groups: Sequence[str]) -> RunReport:
    report = RunReport(workflow.name, "airflow", run_id=run_id)
    chosen = selected_paths(workflow, list(groups))
    for path, group in workflow.walk():
        lead = group.lead.name if group.lead else None
        skipped = path not in chosen
        report.groups[path] = GroupReport(
            state=GroupState.SKIPPED if skipped else GroupState.PENDING, lead=lead,
            members={t.name: MemberReport(MemberState.SKIPPED, "not selected") if skipped
                     else MemberReport() for t in group.tasks})
    return report


def _prefix(workflow: Workflow, path: str) -> str:
    return "" if workflow.group_paths()[path].implicit else path


def read_report(client: Any, workflow: Workflow, dag_id: str, run_id: str,
                groups: Sequence[str]) -> RunReport:
    """The final report: every runnable group's status from its gate."""
    report = _skeleton(workflow, dag_id, run_id, groups)
    chosen = selected_paths(workflow, list(groups))
    runnable = {p for p, g in workflow.walk() if g.tasks and p in chosen}
    for path in runnable:
        group = workflow.group_paths()[path]
        status = client.xcom(dag_id, run_id, naming.gate_id(_prefix(workflow, path), group.name),
                             naming.XCOM_STATUS)
        if status is None:
            raise GroupplugError(f"group {path}: its gate left no status in run {run_id}")
        report.groups[path] = GroupReport(
            state=GroupState(status["state"]), lead=status.get("lead"),
            members={n: MemberReport.from_json(m) for n, m in status["members"].items()})
    roll_up_parents(report, runnable)
    return report


def live_report(client: Any, workflow: Workflow, dag_id: str, run_id: str,
                groups: Sequence[str]) -> RunReport:
    """A report from task instance states alone (no XCom reads, no verdict): for the live tree.
    The final word is the gates' (:func:`read_report`)."""
    report = _skeleton(workflow, dag_id, run_id, groups)
    tis: dict[str, list[dict[str, Any]]] = {}
    for ti in client.task_instances(dag_id, run_id):
        tis.setdefault(ti["task_id"], []).append(ti)
    chosen = selected_paths(workflow, list(groups))
    runnable = {p for p, g in workflow.walk() if g.tasks and p in chosen}
    for path in runnable:
        group = workflow.group_paths()[path]
        gate = naming.gate_id(_prefix(workflow, path), group.name)
        nested = [p for p in runnable if p.startswith(path + ".")]
        live = live_group(path, gate, group.lead.name if group.lead else None, tis, nested)
        report.groups[path].members.update(live.members)
        report.groups[path].state = live.state
    roll_up_parents(report, runnable)
    return report
