"""The group-status view of a DAG run: a FastAPI app served by Airflow's api-server.

``GET /groupplug/dags/{dag_id}/runs/{run_id}/groups`` answers JSON (each group's state, lead and
member counts, nested by path); ``.../view`` renders the same as an HTML page, linked from the
DAG run page. Plugin apps are mounted without authentication, so every endpoint depends on
Airflow's own ``requires_access_dag`` (a JWT from ``/auth/token`` or the UI's session cookie).
It runs inside the api-server, which may read the metadata database.
"""

from __future__ import annotations

import html
import json
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from groupplug.report import GroupReport, RunReport, roll_up_parents
from groupplug.states import GroupState

from . import naming
from .outcome import MemberFacts, group_state, member_report

app = FastAPI(title="groupplug group status", description="Group states of a DAG run")
_READ = [Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))]


def _shapes(dag_id: str) -> list[dict[str, Any]]:
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None:
        raise HTTPException(404, f"DAG {dag_id!r} not found")
    shapes = []
    for task in dag.tasks:
        if task.task_id.endswith(naming.GATE) and task.doc_json:
            shape = json.loads(task.doc_json).get("groupplug")
            if shape:
                shapes.append(shape)
    return shapes


def group_status(dag_id: str, run_id: str) -> dict[str, Any]:
    """Every group of the run: state, lead, counts (parents roll up their children)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    shapes = _shapes(dag_id)
    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        if not rows:
            raise HTTPException(404, f"run {run_id!r} of {dag_id!r} not found")
        states = {task_id: (str(state.value) if hasattr(state, "value") else state)
                  for task_id, state in rows}
        xcoms = {x.task_id: x.value for x in session.query(XComModel).filter(
            XComModel.dag_id == dag_id, XComModel.run_id == run_id,
            XComModel.key == naming.XCOM_STATUS)}
    report = RunReport(workflow=dag_id, engine="airflow", run_id=run_id)
    for shape in shapes:
        report.groups[shape["group"]] = _group(shape, states, xcoms)
    for path in list(report.groups):  # parent-only groups (folders) appear through children
        parts = path.split(".")
        for depth in range(1, len(parts)):
            report.groups.setdefault(".".join(parts[:depth]), GroupReport(GroupState.PENDING))
    roll_up_parents(report, {s["group"] for s in shapes})
    return {"dag_id": dag_id, **report.to_json()}


def _group(shape: dict[str, Any], states: dict[str, Any], xcoms: dict[str, Any]) -> GroupReport:
    prefix, name = shape["prefix"], shape["group"].rsplit(".", 1)[-1]
    final = xcoms.get(naming.gate_id(prefix, name))
    if isinstance(final, str):
        final = json.loads(final)
    if final:
        from groupplug.report import MemberReport

        return GroupReport(GroupState(final["state"]), final.get("lead"),
                           {n: MemberReport.from_json(m) for n, m in final["members"].items()})
    barrier = states.get(naming.barrier_id(prefix)) if shape["barrier"] else None
    members = {n: member_report(MemberFacts(n, states.get(naming.main_id(prefix, n)),
                                            states.get(naming.setup_id(prefix, n))), barrier)
               for n in shape["members"]}
    return GroupReport(group_state(members, shape["lead"], shape["ignore_nonlead_status"]),
                       shape["lead"], members)


@app.get("/dags/{dag_id}/runs/{run_id}/groups", dependencies=_READ)
def groups_json(dag_id: str, run_id: str) -> dict[str, Any]:
    return group_status(dag_id, run_id)


@app.get("/dags/{dag_id}/runs/{run_id}/view", dependencies=_READ, response_class=HTMLResponse)
def groups_page(dag_id: str, run_id: str) -> str:
    return render_page(group_status(dag_id, run_id))


_COLOURS = {"succeeded": "#2b8a3e", "failed": "#c92a2a", "running": "#1971c2",
            "upstream_failed": "#e8590c", "initializing": "#7048e8", "skipped": "#868e96",
            "pending": "#868e96"}


def render_page(status: dict[str, Any]) -> str:
    """A self-contained HTML page: one row per group, indented by nesting."""
    rows = []
    for path, group in sorted(status["groups"].items()):
        depth = path.count(".")
        name = html.escape(path.rsplit(".", 1)[-1])
        counts = ", ".join(f"{html.escape(k)}: {v}" for k, v in group["counts"].items())
        colour = _COLOURS.get(group["state"], "#000")
        lead = html.escape(group["lead"] or "(children)")
        rows.append(
            f'<tr><td style="padding-left:{depth * 1.5 + 0.5}em">{"└ " if depth else ""}'
            f"<b>{name}</b></td><td style=\"color:{colour}\"><b>{group['state']}</b></td>"
            f"<td>{lead}</td><td>{counts}</td></tr>")
    title = html.escape(f"{status['dag_id']} / {status.get('run_id') or ''}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>groupplug groups</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:.4em 1em;text-align:left}</style></head>"
        f"<body><h2>Groups of {title}</h2><p>Run state: <b>{status['state']}</b></p>"
        "<table><tr><th>group</th><th>state</th><th>lead</th><th>members</th></tr>"
        + "".join(rows) + "</table></body></html>")
