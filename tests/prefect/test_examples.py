"""The example flows (``examples/flows/``), loaded as ``groupplug run FILE.py:FLOW`` loads them
and run on the session's real Prefect server; what they did is read back from the API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "examples" / "flows"


def run_example(target: str):
    from groupplug.prefect.flowfile import load_flow, run_flow
    from groupplug.prefect.runner import run_records

    file, name = target.split(":")
    report = run_flow(load_flow(FLOWS / file, name))
    records = run_records(report.run_id)
    # Members' task runs are named "<group path>.<member>"; a group's tracking task run is not.
    tasks = {r["name"]: (r["state"]["type"], r["state"]["message"] or "")
             for r in records if "task_key" in r and "." in r["name"]}
    flows = {r["name"]: r["state"]["type"] for r in records if "task_key" not in r}
    return report, tasks, flows


def test_training_lead_stops_the_workers(prefect_server):
    report, tasks, flows = run_example("training.py:training")
    assert report.flow_state == "Completed"
    assert tasks["train.master"] == ("COMPLETED", "")
    for worker in ("train.worker[0]", "train.worker[1]"):
        assert tasks[worker] == ("COMPLETED", "lead finished")
    assert {"train", "prepare", "evaluate"} <= set(flows)  # each group a run of its own
    assert all(state in ("COMPLETED",) for state in flows.values())


def test_nested_pipeline_results_flow_on_and_groups_nest(prefect_server):
    report, tasks, flows = run_example("nested_pipeline.py:pipeline")
    assert report.flow_state == "Completed"
    assert {"ml-pipeline.model-experiments.hyperparameter-tuning.tune[0]",
            "ml-pipeline.model-experiments.hyperparameter-tuning.tune[2]",
            "ml-pipeline.evaluation.evaluate"} <= set(tasks)
    assert {"ml-pipeline", "ml-pipeline.model-experiments",
            "ml-pipeline.model-experiments.model-training"} <= set(flows)


def test_fan_out_maps_members_and_the_lead_stops_the_monitor(prefect_server):
    report, tasks, _ = run_example("fan_out.py:fan_out")
    assert report.flow_state == "Completed"
    assert {f"squares.process[{i}]" for i in range(8)} <= set(tasks)
    assert tasks["squares.monitor"] == ("COMPLETED", "lead finished")


def test_async_group_cancels_the_heartbeat(prefect_server):
    report, tasks, _ = run_example("async_group.py:async_training")
    assert report.flow_state == "Completed"
    assert tasks["train.heartbeat"] == ("COMPLETED", "lead finished")
    assert {"train.load[0]", "train.load[2]", "train.train"} <= set(tasks)


def test_flow_file_report_has_every_group(prefect_server):
    report, _, _ = run_example("nested_pipeline.py:pipeline")
    assert report.state == "succeeded"
    groups = report.groups
    assert set(groups) == {
        "ml-pipeline", "ml-pipeline.data-preparation", "ml-pipeline.model-experiments",
        "ml-pipeline.model-experiments.hyperparameter-tuning",
        "ml-pipeline.model-experiments.model-training", "ml-pipeline.evaluation"}
    tuning = groups["ml-pipeline.model-experiments.hyperparameter-tuning"]
    assert list(tuning.members) == ["tune[0]", "tune[1]", "tune[2]", "pick"]
    assert report.counts("ml-pipeline") == {"succeeded": 8}


def test_cli_runs_an_example_flow_file(tmp_path):
    env = {**os.environ, "GROUPPLUG_PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run(
        [str(ROOT / ".venv-prefect" / "bin" / "groupplug"), "run",
         f"{FLOWS / 'training.py'}:training", "--engine", "prefect", "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    members = report["groups"]["train"]["members"]
    assert members["worker[1]"]["reason"] == "lead finished"
    assert set(report["groups"]) == {"prepare", "train", "evaluate"}
