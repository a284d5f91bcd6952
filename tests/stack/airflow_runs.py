"""Helpers for the Airflow tests on the stack: write a workflow's DAG and trigger runs, wait for
a task instance's state, follow a run to its report (asserting no task instance is left
non-final), kill a Celery worker as a lost machine, a lead that waits for its peers' starts.
Waits are on states and marker files, never on time.
"""

from __future__ import annotations

import signal
import time
import uuid

from groupplug import service_procs
from groupplug.airflow import runner
from groupplug.loader import load_workflow
from tests.core.conformance import wait_for

FINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}


def trigger(airflow, dag_id: str, runs: int = 1) -> list[str]:
    """Wait for ``dag_id`` to be parsed and trigger ``runs`` runs of it; their run ids."""
    client = airflow.client()
    client.wait_for_dag(dag_id, timeout=300)
    run_ids = [f"run{i}" for i in range(runs)]
    for run_id in run_ids:
        client.trigger(dag_id, run_id)
    return run_ids


def start(airflow, yaml: str, name: str, runs: int = 1):
    """Write the workflow's DAG and trigger ``runs`` runs of it; (workflow, dag id, run ids)."""
    workflow = load_workflow(yaml)
    dag_id = f"stack_{name}_{uuid.uuid4().hex[:6]}"
    runner.write_dag(airflow, workflow, dag_id, [])
    return workflow, dag_id, trigger(airflow, dag_id, runs)


def finish(airflow, workflow, dag_id: str, run_id: str):
    """Follow the run to its end; its report. Fails if a task instance is left non-final."""
    client = airflow.client()
    runner.follow(client, workflow, dag_id, run_id, [], None, timeout=900)
    report = runner.read_report(client, workflow, dag_id, run_id, [])
    open_tis = {ti["task_id"]: ti["state"] for ti in client.task_instances(dag_id, run_id)
                if ti["state"] not in FINAL}
    assert open_tis == {}, f"task instances left non-final: {open_tis}"
    return report


def after_peers_started(tmp_path, *peers: str) -> str:
    """A lead's command that ends once every peer's main work has begun (each peer's command
    starts with ``touch {tmp_path}/PEER.started``), or fails after 120 s. A lead that ends
    sooner can end before a busy worker starts a peer, which then rightly never starts and
    leaves no start time for the barrier's assertions."""
    return wait_for(*(f"{tmp_path}/{p}.started" for p in peers))


def started_after(report, group: str, at: float, names: tuple[str, ...] = ()) -> None:
    """Every member of ``group`` (or ``names``) began its main work, none before ``at``."""
    starts = {n: m.started_at for n, m in report.groups[group].members.items()
              if not names or n in names}
    assert None not in starts.values(), f"a member never started: {starts} {report.to_json()}"
    assert min(starts.values()) >= at, f"began before {at}: {starts} {report.to_json()}"


def hostnames(airflow, dag_id: str, run_id: str) -> set[str]:
    """The Celery workers the run's task instances ran on."""
    return {ti["hostname"] for ti in airflow.client().task_instances(dag_id, run_id)
            if ti["hostname"]}


def wait_ti(airflow, dag_id: str, run_id: str, task_id: str, states: set[str],
            timeout: float = 600) -> dict:
    client = airflow.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in client.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and ti["state"] in states:
                return ti
        time.sleep(1)
    raise AssertionError(f"{task_id} never reached {states} in {timeout}s")


def wait_file(path, timeout: float = 600) -> None:
    """Wait for a marker file a member writes (the member's command has really started)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared in {timeout}s"
        time.sleep(0.5)


def kill_worker(stack, hostname: str) -> None:
    """SIGKILL the whole Celery worker (main process, pool, task supervisors), as a lost machine,
    then start a new one under the same name for the tests after."""
    pid = stack.state["pids"][f"celery-{hostname}"]
    service_procs.stop_service(pid, signal.SIGKILL, timeout=0)  # its task runners and commands too
    stack.start_worker(hostname)
