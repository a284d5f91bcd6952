"""Ending a DAG run early from ``groupplug run``: Ctrl-C, SIGTERM, or an Airflow service that died.

Airflow's own way is used: the run is marked ``failed`` through the REST API (what the UI's
"mark failed" does), which fails its running and deferred task instances and skips those not
started; each task's supervisor learns it at its next heartbeat and kills the task, whose
member wrapper takes its command's process group down (``on_kill``). The caller waits until no
task instance is left unfinished, so the records are final before the services stop.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from groupplug import interrupts
from groupplug.exceptions import EngineFailed
from groupplug.states import GroupState, MemberState

log = logging.getLogger(__name__)

#: Task instance states that are final (None: never scheduled, nothing runs).
FINAL = {"success", "failed", "skipped", "upstream_failed", "removed", None}
#: Seconds to wait for the task instances of an aborted run to end.
ABORT_WAIT = 8.0


def check(client: Any, dag_id: str, run_id: str, services: Any = None) -> str | None:
    """Call on every poll of a run: the reason it was ended early (after ending it), or None.

    ``services`` (an :class:`EmbeddedAirflow`, or None) raises :class:`EngineFailed` when one
    of its services died for good; the run is marked failed first.
    """
    failure = getattr(services, "failure", lambda: None)()
    if failure is not None:
        abort(client, dag_id, run_id, failure)
        raise EngineFailed(failure)
    reason = interrupts.requested()
    if reason is not None:
        abort(client, dag_id, run_id, reason)
    return reason


def abort(client: Any, dag_id: str, run_id: str, reason: str,
          wait: float = ABORT_WAIT) -> list[dict[str, Any]]:
    """Mark the run failed and wait (up to ``wait`` seconds) for its task instances to end;
    those still unfinished then are marked failed one by one. Its task instances."""
    log.warning("run %s of %s: %s; marking it failed", run_id, dag_id, reason)
    try:
        client.patch(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", {"state": "failed"})
    except Exception as exc:  # noqa: BLE001 - the API may be what died; the services stop next
        log.warning("could not mark run %s failed: %s", run_id, exc)
        return []
    began = time.monotonic()
    deadline = began + wait
    while True:
        tis = client.task_instances(dag_id, run_id)
        left = [ti for ti in tis if ti.get("state") not in FINAL]
        if not left:
            log.info("run %s: every task instance final %.1fs after marking it failed", run_id,
                     time.monotonic() - began)
            return tis
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for ti in left:  # e.g. queued on an executor that will never run it now
        index = ti.get("map_index", -1)
        suffix = f"/{index}" if index is not None and index >= 0 else ""
        try:
            client.patch(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/"
                         f"{ti['task_id']}{suffix}", {"new_state": "failed"})
        except Exception as exc:  # noqa: BLE001 - report what is left, never hang
            log.warning("could not mark %s failed: %s", ti["task_id"], exc)
    return client.task_instances(dag_id, run_id)


def mark_interrupted(report: Any, reason: str) -> Any:
    """An interrupted run's report, from its task instances: every member and group that did
    not end on its own ended failed, with ``reason``."""
    report.interrupted = reason
    for group in report.groups.values():
        for member in group.members.values():
            if not member.state.finished or (member.state is MemberState.FAILED
                                             and not member.reason):
                member.state, member.reason = MemberState.FAILED, reason
        if not group.state.finished:
            group.state = GroupState.FAILED
    return report
