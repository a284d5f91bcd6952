"""``groupplug run FILE --engine prefect``: the workflow as a flow run on a real Prefect server.

A :class:`PrefectServer` of our own is started for the run (Prefect's embedded default, with
no hand set-up), the flow runs against it, and before the server stops every task run and
subflow run of the flow run is read back from the API and must be final: no run record is
lost at exit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from groupplug import interrupts
from groupplug.exceptions import EngineFailed
from groupplug.report import RunReport
from groupplug.spec import Workflow

log = logging.getLogger(__name__)


def run_workflow(workflow: Workflow, groups: Sequence[str],
                 options: Mapping[str, Any]) -> RunReport:
    from ._server import server_for
    from .stack import stack_task_runner
    from .story import telling_story

    # --stack without prefect-dask is refused here, before the stack's server is reached.
    options = {**options, "task_runner": options.get("task_runner") or stack_task_runner(options)}
    with telling_story(), server_for(options):
        return _run(workflow, groups, options)


def _run(workflow: Workflow, groups: Sequence[str], options: Mapping[str, Any]) -> RunReport:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from ._compat import signals_stay_ours
    from .group_flow import RunOptions, workflow_flow
    from .stack import stack_task_runner

    latest: list[RunReport] = []
    user_update = options.get("on_update")

    def on_update(report: RunReport) -> None:
        if not latest:  # the run's one report object, updated in place from here on
            latest.append(report)
            interrupts.set_known_report(lambda: latest[0])
        if user_update is not None:
            user_update(report)

    run_options = RunOptions(selected=groups, on_update=on_update,
                             task_runner=options.get("task_runner") or stack_task_runner(options),
                             channel=options.get("channel"))
    flow = workflow_flow(workflow, run_options)
    # The heartbeat thread costs each sync flow ~1.1 s at exit (measured); we need none.
    with signals_stay_ours(), \
            temporary_settings(restore_defaults={PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        state = flow(return_state=True)
    data = state.result(raise_on_failure=False)
    if not isinstance(data, dict):
        raise EngineFailed(f"the Prefect flow run ended {state.name}: {state.message}",
                           latest[0] if latest else None)
    report = RunReport.from_json(data)
    report.run_id = str(state.state_details.flow_run_id)
    check_records_final(report.run_id)
    return report


def run_records(flow_run_id: str) -> list[dict[str, Any]]:
    """The flow run, every flow run under it (subflows, group runs, nested) and all their
    task runs, as the API returns them (dicts; a task run has ``task_key``)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        def post(path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
            return client.request("POST", path, json={"limit": 200, "offset": 0, **body}).json()

        runs = [client.request("GET", f"/flow_runs/{flow_run_id}").json()]
        queue = [flow_run_id]
        while queue:  # the flow run, its subflows, their subflows
            children = post("/flow_runs/filter", {"sort": "START_TIME_ASC", "flow_runs": {
                "parent_flow_run_id": {"any_": [queue.pop()]}}})
            runs += children
            queue += [c["id"] for c in children]
        tasks = post("/task_runs/filter", {"sort": "EXPECTED_START_TIME_ASC", "flow_runs": {
            "id": {"any_": [r["id"] for r in runs]}}})
    return [*runs, *tasks]


def check_records_final(flow_run_id: str, timeout: float = 30) -> dict[str, int]:
    """Every task run and subflow run under ``flow_run_id`` in a final state in the API.

    Returns counts by state; raises when a record is still not final after ``timeout``.
    """
    final = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
    deadline = time.monotonic() + timeout
    while True:
        records = run_records(flow_run_id)
        pending = [r for r in records if (r.get("state") or {}).get("type") not in final]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if pending:
        names = ", ".join(f"{r['name']} ({(r.get('state') or {}).get('type')})"
                          for r in pending[:5])
        raise EngineFailed(f"{len(pending)} run records are not final: {names}")
    counts: dict[str, int] = {}
    for record in records:
        kind = record["state"]["type"].lower()
        counts[kind] = counts.get(kind, 0) + 1
    log.info("flow run %s: %d records, all final: %s", flow_run_id, len(records), counts)
    return counts
