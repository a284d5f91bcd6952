"""Airflow on the stack, faults of the services around a group, and Python members.

- the scheduler restarted while one group's barrier is deferred and another group's members run
  their main work: both groups still end by the rules, no task instance left non-final;
- the api-server frozen 10 s (SIGSTOP) while members watch their lead: their failed reads are
  not "the lead finished"; they are stopped only after the lead really ended (its marker file);
- the Python-member conformance table (``@task`` members in ``group(...)`` blocks, a lead
  stopping a member blocked in ``time.sleep``) with members on both Celery workers.

Waits are on states and marker files, never on time; the only fixed sleeps are the freeze itself
and the window after it in which a misreading product would stop the members.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from groupplug import service_procs  # noqa: E402
from groupplug.airflow.member_run import POLL_INTERVAL  # noqa: E402
from groupplug.loader import load_workflow  # noqa: E402
from tests.airflow.test_conformance_python import python_dag  # noqa: E402
from tests.core.conformance import PYTHON_UNDER_LOAD as PY_TABLE  # noqa: E402
from tests.stack.airflow_runs import (  # noqa: E402
    after_peers_started,
    finish,
    hostnames,
    start,
    started_after,
    trigger,
    wait_file,
    wait_ti,
)

pytestmark = pytest.mark.slow
PY_BATCH = 8
FREEZE_SECONDS = 10
AFTER_FREEZE_POLLS = 5


def lead_until(tmp_path: Path, started: str) -> str:
    """A lead's command: mark it started, wait for ``go``, then write when it ended (the proof
    the others were stopped after it, not on a misread state)."""
    return (f"touch {tmp_path}/{started}; while [ ! -f {tmp_path}/go ]; do sleep 0.2; done; "
            f"date +%s.%N > {tmp_path}/lead-done")


def test_scheduler_restarted_mid_group_run_still_ends_by_the_rules(stack, airflow, tmp_path):
    """``held``'s barrier is deferred (``late`` still in setup) and ``busy``'s members run their
    main work when the scheduler is restarted; ``late`` arrives and ``busy``'s lead ends while
    the new scheduler starts."""
    lead, late = after_peers_started(tmp_path, "w1", "late"), f"touch {tmp_path}/late.started"
    arrival = f"while [ ! -f {tmp_path}/arrive ]; do sleep 0.5; done"
    yaml = f"""
workflow:
  name: schedrestart
  groups:
  - name: held
    tasks:
    - {{name: lead, lead: true, setup: "true", command: "{lead}"}}
    - {{name: w1, setup: "true", command: "touch {tmp_path}/w1.started; sleep 600"}}
    - {{name: late, setup: "{arrival}", command: "{late}"}}
  - name: busy
    tasks:
    - {{name: chief, lead: true, command: "{lead_until(tmp_path, 'busy-lead')}"}}
    - {{name: hand, command: "touch {tmp_path}/busy-hand; sleep 600"}}
"""
    workflow, dag_id, (run_id,) = start(airflow, yaml, "schedrestart")
    wait_ti(airflow, dag_id, run_id, "held.__barrier__", {"deferred"})
    wait_file(tmp_path / "busy-lead")
    wait_file(tmp_path / "busy-hand")
    stack.restart("scheduler")
    (tmp_path / "arrive").touch()
    (tmp_path / "go").touch()
    report = finish(airflow, workflow, dag_id, run_id)
    assert report.state == "succeeded", report.to_json()
    held, busy = report.groups["held"], report.groups["busy"]
    assert {n: m.state.value for n, m in held.members.items()} == {
        "lead": "succeeded", "w1": "succeeded", "late": "succeeded"}, report.to_json()
    assert "lead finished" in held.members["w1"].reason, report.to_json()
    started_after(report, "held", max(m.setup_finished_at for m in held.members.values()) - 0.5)
    assert {n: m.state.value for n, m in busy.members.items()} == {
        "chief": "succeeded", "hand": "succeeded"}, report.to_json()
    assert "lead finished" in busy.members["hand"].reason, report.to_json()
    lead_done = float((tmp_path / "lead-done").read_text())
    assert busy.members["hand"].finished_at >= lead_done, report.to_json()


def freeze(pid: int, seconds: float) -> None:
    """Make a service unreachable: SIGSTOP every process it started (connections hang, as to a
    lost host), SIGCONT after ``seconds`` whatever happens."""
    procs = service_procs.family(pid)
    assert procs, f"no process in service {pid}"
    try:
        service_procs.signal_all(procs, signal.SIGSTOP)
        time.sleep(seconds)  # the fault's length, not a measurement
    finally:
        service_procs.signal_all(procs, signal.SIGCONT)


def test_api_server_frozen_while_members_watch_is_not_the_lead_finishing(stack, airflow,
                                                                        tmp_path):
    yaml = f"""
workflow:
  name: apifreeze
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "{lead_until(tmp_path, 'lead-running')}"}}
    - {{name: w1, command: "touch {tmp_path}/w1-running; sleep 600"}}
    - {{name: w2, command: "touch {tmp_path}/w2-running; sleep 600"}}
"""
    workflow, dag_id, (run_id,) = start(airflow, yaml, "apifreeze")
    for name in ("lead", "w1", "w2"):
        wait_file(tmp_path / f"{name}-running")
    # The Task SDK retries a 10 s outage away (5 s timeout, 5 retries), so the members' reads
    # block rather than fail and return once the api-server runs again. A product that misread
    # a slow or failed read as "the lead finished" acts on those first reads after the freeze:
    # they get AFTER_FREEZE_POLLS poll intervals before the lead may end (without this window
    # such a product raced the 'go' and was not caught). A window, not a measurement.
    freeze(stack.state["pids"]["api-server"], FREEZE_SECONDS)
    frozen_until = time.time()
    time.sleep(AFTER_FREEZE_POLLS * POLL_INTERVAL)
    (tmp_path / "go").touch()
    report = finish(airflow, workflow, dag_id, run_id)
    group = report.groups["g"]
    assert report.state == "succeeded" and group.state.value == "succeeded", report.to_json()
    marker = tmp_path / "lead-done"
    assert marker.exists(), f"the lead's command was stopped before it ended: {report.to_json()}"
    lead_done = float(marker.read_text())
    assert lead_done >= frozen_until  # the lead really ended after the freeze
    for name in ("w1", "w2"):
        member = group.members[name]
        assert member.state.value == "succeeded", report.to_json()
        assert "lead finished" in member.reason, report.to_json()
        # stopped after the lead's real end, not when a read failed during the freeze
        assert member.finished_at >= lead_done, report.to_json()


def test_python_member_conformance_table_on_both_workers(stack, airflow, tmp_path_factory):
    """``@task`` members (their work is ``time.sleep`` and exceptions in the task process) on
    the Celery workers; ``groupplug_pyconf`` goes where every stack service imports from."""
    support = Path(__file__).parents[1] / "airflow" / "support" / "groupplug_pyconf.py"
    shutil.copy(support, Path(stack.state["dir"]) / "python" / support.name)
    problems, hosts = {}, set()
    for first in range(0, len(PY_TABLE), PY_BATCH):
        runs = {}
        for scenario in PY_TABLE[first:first + PY_BATCH]:
            workflow = load_workflow(
                scenario.spec_yaml(str(tmp_path_factory.mktemp(scenario.id))))
            dag_id = f"stack_py_{scenario.id.replace('-', '_')}_{uuid.uuid4().hex[:4]}"
            (airflow.dags_folder / f".{dag_id}.tmp").write_text(python_dag(workflow, dag_id))
            (airflow.dags_folder / f".{dag_id}.tmp").rename(airflow.dags_folder / f"{dag_id}.py")
            runs[scenario.id] = (scenario, workflow, dag_id)
        run_ids = {sid: trigger(airflow, dag_id)[0] for sid, (_, _, dag_id) in runs.items()}
        for sid, (scenario, workflow, dag_id) in runs.items():
            report = finish(airflow, workflow, dag_id, run_ids[sid])
            found = scenario.check(report)
            if found:
                problems[sid] = found + [json.dumps(report.to_json())]
            hosts |= hostnames(airflow, dag_id, run_ids[sid])
    assert problems == {}
    assert {"worker1", "worker2"} <= hosts, f"members ran on {hosts}, not on both workers"
