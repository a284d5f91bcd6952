"""Member operators and the exit gate under ``dag.test()`` (no scheduler; barrier-free group).

``dag.test()`` needs a migrated database and the DAG inside a configured dags folder, so each run
is a subprocess with its own AIRFLOW_HOME. Concurrency-dependent behaviour (a lead stopping
running peers within seconds, barriers) is covered by the conformance suite on a real scheduler.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).with_name("_dagtest_lead_stop.py")
BIN = Path(sys.executable).parent


# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


def _dag_test(tmp_path: Path, lead_cmd: str) -> dict:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DAG_FILE, home / "dags" / "lead_stop.py")
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True,
                   capture_output=True, timeout=180)
    done = subprocess.run([sys.executable, str(home / "dags" / "lead_stop.py"), lead_cmd],
                          env=env, capture_output=True, text=True, timeout=240)
    lines = [x for x in done.stdout.splitlines() if x.startswith("GROUPPLUG ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("GROUPPLUG "))
    result["output"] = done.stdout[-6000:] + done.stderr[-6000:]  # the task logs, on failure
    return result


@pytest.mark.slow
def test_group_takes_the_failed_leads_state_and_the_gate_reports_it(tmp_path):
    result = _dag_test(tmp_path, "exit 3")
    status = result["status"]
    assert result["run"] == "failed"
    assert result["states"]["solo.__gate__"] == "failed"
    assert status["state"] == "failed" and status["lead"] == "a"
    assert status["members"]["a"]["state"] == "failed"
    b = status["members"]["b"]
    # b either finished before the lead ran, or was stopped by it taking the lead's state
    assert (b["state"], b["reason"]) in {("succeeded", ""), ("failed", "lead finished")}, \
        result["output"]
    if b["state"] == "succeeded":
        assert b["started_at"] is not None and b["finished_at"] >= b["started_at"]
