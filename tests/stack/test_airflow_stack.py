"""Airflow on the stack: PostgreSQL, Redis, Celery workers ``worker1`` and ``worker2``.

Conformance for the whole core shell table with members spread over both workers, then faults:
a Celery worker SIGKILLed while its member runs main work and while its peers wait at the
barrier, the triggerer restarted while a barrier is deferred, two runs of one DAG at once. Every
run must end (no deadlock) with every task instance final. Waits are on states, never on time.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("airflow")

from tests.core.conformance import (  # noqa: E402
    INPUT_SCENARIOS,
    OSMO_SCENARIOS,
    SCENARIOS,
    fail_once,
    under_load,
)
from tests.stack.airflow_runs import (  # noqa: E402
    after_peers_started,
    finish,
    hostnames,
    kill_worker,
    start,
    started_after,
    wait_file,
    wait_ti,
)

pytestmark = pytest.mark.slow
#: The whole shell table (with the task-input scenarios in both spellings), BATCH runs at a time:
#: all at once, task starts on two loaded cores lag by a minute, which no scenario's timing allows.
TABLE = under_load(SCENARIOS + INPUT_SCENARIOS + OSMO_SCENARIOS)
BATCH = 6


def test_conformance_table_spreads_over_both_workers(airflow, tmp_path_factory):
    problems, hosts = {}, set()
    for first in range(0, len(TABLE), BATCH):
        batch = TABLE[first:first + BATCH]
        started = {}
        for scenario in batch:
            yaml = scenario.spec_yaml(str(tmp_path_factory.mktemp(scenario.id)))
            started[scenario.id] = start(airflow, yaml, scenario.id.replace("-", "_"))
        for scenario in batch:
            workflow, dag_id, (run_id,) = started[scenario.id]
            report = finish(airflow, workflow, dag_id, run_id)
            found = scenario.check(report)
            if found:
                problems[scenario.id] = found + [json.dumps(report.to_json())]
            hosts |= hostnames(airflow, dag_id, run_id)
    assert problems == {}
    assert {"worker1", "worker2"} <= hosts, f"members ran on {hosts}, not on both workers"


def test_worker_killed_in_main_work_fails_the_lead_and_stops_the_group(stack, airflow, tmp_path):
    yaml = f"""
workflow:
  name: killmain
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "touch {tmp_path}/lead-running; sleep 600"}}
    - {{name: w1, command: "sleep 600"}}
    - {{name: w2, command: "sleep 600"}}
"""
    workflow, dag_id, (run_id,) = start(airflow, yaml, "killmain")
    wait_file(tmp_path / "lead-running")
    lead = wait_ti(airflow, dag_id, run_id, "g.lead", {"running"})
    hosts = {m: wait_ti(airflow, dag_id, run_id, f"g.{m}", {"running"})["hostname"]
             for m in ("w1", "w2")}
    kill_worker(stack, lead["hostname"])
    report = finish(airflow, workflow, dag_id, run_id)
    group = report.groups["g"]
    assert report.state == "failed" and group.state.value == "failed", report.to_json()
    assert group.members["lead"].state.value == "failed"
    for name, host in hosts.items():
        # a member on the killed worker died with it; the others were stopped by the lead's
        # end, not left running their 600 s
        assert group.members[name].state.value == "failed", report.to_json()
        if host != lead["hostname"]:
            assert "lead finished" in group.members[name].reason, report.to_json()


def test_worker_killed_in_setup_while_peers_wait_at_barrier(stack, airflow, tmp_path):
    """``slow``'s worker dies in its setup while lead and w1 wait at the barrier: the barrier
    must not release them as if ``slow`` had arrived; it counts ``slow`` failed (a non-lead setup
    failure), then releases the others, and the group ends by the rules."""
    yaml = f"""
workflow:
  name: killbarrier
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, setup: "true", command: "{after_peers_started(tmp_path, 'w1')}"}}
    - {{name: w1, setup: "true", command: "touch {tmp_path}/w1.started; sleep 600"}}
    - {{name: slow, setup: "touch {tmp_path}/slow-setup; sleep 600", command: "true"}}
"""
    workflow, dag_id, (run_id,) = start(airflow, yaml, "killbarrier")
    wait_ti(airflow, dag_id, run_id, "g.__barrier__", {"deferred"})
    # lead and w1 have arrived: a rehearsal once killed the lead's setup task process with the
    # worker (it ran "true", but its task had not finished), and the group rightly failed.
    for name in ("lead", "w1"):
        wait_ti(airflow, dag_id, run_id, f"g.{name}__setup", {"success"})
    wait_file(tmp_path / "slow-setup")
    slow = wait_ti(airflow, dag_id, run_id, "g.slow__setup", {"running"})
    killed_at = time.time()
    kill_worker(stack, slow["hostname"])
    report = finish(airflow, workflow, dag_id, run_id)
    group = report.groups["g"]
    assert group.members["slow"].state.value == "failed", report.to_json()
    assert group.members["lead"].state.value == "succeeded", report.to_json()
    assert group.members["w1"].state.value == "succeeded", report.to_json()
    assert "lead finished" in group.members["w1"].reason
    assert group.state.value == "succeeded" and report.state == "succeeded"
    # nobody started main work before slow's loss was known
    started_after(report, "g", killed_at, ("lead", "w1"))


def test_triggerer_restarted_while_barrier_deferred_still_releases(stack, airflow, tmp_path):
    lead, late = after_peers_started(tmp_path, "w1", "late"), f"touch {tmp_path}/late.started"
    yaml = f"""
workflow:
  name: trigrestart
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, setup: "true", command: "{lead}"}}
    - {{name: w1, setup: "true", command: "touch {tmp_path}/w1.started; sleep 600"}}
    - {{name: late, setup: "while [ ! -f {tmp_path}/go ]; do sleep 0.5; done", command: "{late}"}}
"""
    workflow, dag_id, (run_id,) = start(airflow, yaml, "trigrestart")
    wait_ti(airflow, dag_id, run_id, "g.__barrier__", {"deferred"})
    stack.restart("triggerer")
    (tmp_path / "go").touch()  # the last member arrives after the restart
    report = finish(airflow, workflow, dag_id, run_id)
    group = report.groups["g"]
    assert report.state == "succeeded", report.to_json()
    assert {n: m.state.value for n, m in group.members.items()} == {
        "lead": "succeeded", "w1": "succeeded", "late": "succeeded"}
    started_after(report, "g", max(m.setup_finished_at for m in group.members.values()) - 0.5)


def test_two_runs_of_one_dag_at_once_do_not_cross(airflow, tmp_path):
    """The first run's lead to start fails, the other's succeeds: each run's members must
    follow their own lead and barrier."""
    lead = fail_once("first", then="sleep 3").replace("{tmp}", str(tmp_path))
    yaml = f"""
workflow:
  name: tworuns
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, setup: "sleep 1", command: '{lead}'}}
    - {{name: w1, setup: "sleep 2", command: "sleep 600"}}
"""
    workflow, dag_id, run_ids = start(airflow, yaml, "tworuns", runs=2)
    reports = [finish(airflow, workflow, dag_id, run_id) for run_id in run_ids]
    states = sorted(r.state for r in reports)
    assert states == ["failed", "succeeded"], [r.to_json() for r in reports]
    for report in reports:
        group = report.groups["g"]
        assert group.members["w1"].state == group.members["lead"].state, report.to_json()
        assert "lead finished" in group.members["w1"].reason
