"""The Groups view of a DAG run: a FastAPI app served by Airflow's api-server.

``GET /groupplug/dags/{dag_id}/runs/{run_id}/groups`` answers JSON (the run's report: each group
with its state, lead, counts and every member's state, reason, attempts and times, upstream
groups first); ``.../view`` renders the same as an HTML page, linked from the DAG run page as
"Groups", that reloads itself every few seconds while the run is live and stops once it ended.
Plugin apps are mounted without authentication, so every endpoint depends on Airflow's own
``requires_access_dag`` (a JWT from ``/auth/token`` or the UI's session cookie). It runs inside
the api-server, which may read the metadata database. What a group shows comes from
:mod:`groupplug.airflow.runstate`: the gate's published status once it ran, live task-instance
states before.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse

from . import naming
from .runstate import build_report

app = FastAPI(title="groupplug group status", description="Group states of a DAG run")
_READ = [Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))]
#: Seconds between reloads of the page while the run is live.
REFRESH_SECONDS = 3
_FINAL_RUN = ("success", "failed")


def _value(state: Any) -> str | None:
    return str(state.value) if hasattr(state, "value") else state


def _dag_facts(dag_id: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The DAG's tasks (id, downstream ids) and each group's lead from its gate's shape."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None:
        raise HTTPException(404, f"DAG {dag_id!r} not found")
    tasks, leads = [], {}
    for task in sorted(dag.tasks, key=lambda t: t.task_id):
        tasks.append({"task_id": task.task_id,
                      "downstream_task_ids": sorted(task.downstream_task_ids)})
        if task.task_id.endswith(naming.GATE) and getattr(task, "doc_json", None):
            shape = json.loads(task.doc_json).get("groupplug") or {}
            if shape.get("group") and shape.get("lead"):
                leads[shape["group"]] = shape["lead"]
    return tasks, leads


def group_status(dag_id: str, run_id: str) -> dict[str, Any]:
    """The run's report as JSON, plus Airflow's own state of the run (``airflow_state``)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    tasks, leads = _dag_facts(dag_id)
    with create_session() as session:
        run = session.query(DagRun.state).filter(DagRun.dag_id == dag_id,
                                                 DagRun.run_id == run_id).one_or_none()
        if run is None:
            raise HTTPException(404, f"run {run_id!r} of {dag_id!r} not found")
        tis = [{"task_id": r.task_id, "map_index": r.map_index, "state": _value(r.state),
                "try_number": r.try_number, "start_date": r.start_date, "end_date": r.end_date}
               for r in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                           TaskInstance.run_id == run_id)]
        statuses = {x.task_id: XComModel.deserialize_value(x) for x in session.query(XComModel)
                    .filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id,
                            XComModel.key == naming.XCOM_STATUS)}
    for gate, value in statuses.items():
        if isinstance(value, str):  # stored by an older writer as a JSON string
            statuses[gate] = json.loads(value)
    report = build_report(dag_id, run_id, tasks, tis, statuses.get, live=True, leads=leads)
    airflow_state = _value(run.state)
    return {"dag_id": dag_id, "airflow_state": airflow_state,
            "live": airflow_state not in _FINAL_RUN, **report.to_json()}


@app.get("/dags/{dag_id}/runs/{run_id}/groups", dependencies=_READ)
def groups_json(dag_id: str, run_id: str) -> dict[str, Any]:
    return group_status(dag_id, run_id)


@app.get("/dags/{dag_id}/runs/{run_id}/view", dependencies=_READ, response_class=HTMLResponse)
def groups_page(dag_id: str, run_id: str) -> str:
    return render_page(group_status(dag_id, run_id))


_COLOURS = {"succeeded": "#2b8a3e", "failed": "#c92a2a", "running": "#1971c2",
            "upstream_failed": "#e8590c", "initializing": "#7048e8", "setting_up": "#7048e8",
            "waiting": "#ae3ec9", "retrying": "#f08c00", "skipped": "#868e96",
            "pending": "#868e96"}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#212529}"
    "table{border-collapse:collapse;min-width:60em}"
    "td,th{border-bottom:1px solid #e9ecef;padding:.35em .9em;text-align:left;"
    "white-space:nowrap}th{background:#f8f9fa}tr.group td{background:#f1f3f5}"
    ".state{font-weight:600}.muted{color:#868e96}.reason{white-space:normal}")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%H:%M:%S")


def _state(state: str) -> str:
    colour = _COLOURS.get(state, "#000")
    return f'<span class="state" style="color:{colour}">{html.escape(state)}</span>'


def _duration(member: dict[str, Any]) -> str:
    start, end = member.get("started_at"), member.get("finished_at")
    return f"{end - start:.1f}s" if start is not None and end is not None else ""


def _group_rows(path: str, group: dict[str, Any]) -> list[str]:
    depth = path.count(".")
    pad = f"padding-left:{depth * 1.5 + 0.5}em"
    counts = ", ".join(f"{html.escape(k)}: {v}" for k, v in group["counts"].items())
    lead = html.escape(group["lead"]) if group["lead"] else '<span class="muted">-</span>'
    rows = [f'<tr class="group"><td style="{pad}"><b>{html.escape(path.rsplit(".", 1)[-1])}'
            f"</b></td><td>{_state(group['state'])}</td><td>lead: {lead}</td>"
            f'<td colspan="5" class="muted">{counts}</td></tr>']
    for name, member in group["members"].items():
        star = " &#9733;" if name == group["lead"] else ""
        rows.append(
            f'<tr><td style="padding-left:{depth * 1.5 + 2}em">{html.escape(name)}{star}</td>'
            f"<td>{_state(member['state'])}</td>"
            f'<td class="reason">{html.escape(member.get("reason") or "")}</td>'
            f"<td>{member.get('attempts', 0)}</td>"
            f"<td>{_clock(member.get('setup_finished_at'))}</td>"
            f"<td>{_clock(member.get('started_at'))}</td>"
            f"<td>{_clock(member.get('finished_at'))}</td><td>{_duration(member)}</td></tr>")
    return rows


def render_page(status: dict[str, Any]) -> str:
    """A self-contained HTML page: groups upstream first, nested by path, each with its members.

    While the run is live the page reloads itself every :data:`REFRESH_SECONDS` seconds.
    """
    rows = [row for path, group in status["groups"].items() for row in _group_rows(path, group)]
    title = html.escape(f"{status['dag_id']} / {status.get('run_id') or ''}")
    live = status.get("live", False)
    refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if live else ""
    note = (f"live: this page reloads every {REFRESH_SECONDS} s" if live
            else "the run has ended")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{refresh}"
        f"<title>groupplug groups: {title}</title><style>{_STYLE}</style></head>"
        f"<body><h2>Groups of {title}</h2>"
        f"<p>Run: {_state(status['state'])} "
        f"<span class='muted'>(Airflow: {html.escape(str(status.get('airflow_state')))}; "
        f"{note}; times UTC)</span></p>"
        "<table><tr><th>group / member</th><th>state</th><th>reason</th><th>attempts</th>"
        "<th>set up</th><th>started</th><th>finished</th><th>ran</th></tr>"
        + "".join(rows) + "</table></body></html>")
