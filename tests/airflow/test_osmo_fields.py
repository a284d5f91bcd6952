"""OSMO's task fields on Airflow, run as ``groupplug run --engine airflow`` runs a workflow (its
spec dumped and loaded back by a one-line DAG file) on the session's real Airflow.

One batch, all DAG runs at once: the workflow of :mod:`tests.core.osmo_fields` (the local engine
runs it in tests/core/test_launch), its ``read`` group alone (its input never ran), and every
example in ``examples/workflows/osmo``. Members run in the directory the run started in (a
temporary one here), as on the local engine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.core import osmo_fields

RUN_ID = "osmo"


@pytest.fixture(scope="module")
def runs(airflow_server, tmp_path_factory):
    """{name: (dag_id, report)} for every run of the batch; the members' directory."""
    from groupplug.airflow import runner
    from groupplug.launch import engine_run_dir
    from groupplug.loader import load_workflow

    work = tmp_path_factory.mktemp("osmo-airflow")
    batch = {"fields": (osmo_fields.workflow(), []),
             "read-alone": (osmo_fields.workflow("osmo_fields_read"), ["read"])}
    batch.update({p.stem: (load_workflow(p), []) for p in osmo_fields.EXAMPLES})
    client = airflow_server.client()
    started = {}
    here = os.getcwd()
    os.chdir(work)  # write_dag records it as the members' working directory
    try:
        for name, (workflow, selected) in batch.items():
            dag_id = runner.dag_id_for(workflow)
            runner.write_dag(airflow_server, workflow, dag_id, selected)
            started[name] = dag_id
    finally:
        os.chdir(here)
    for dag_id in started.values():
        client.wait_for_dag(dag_id)
        client.trigger(dag_id, RUN_ID)
    reports = {}
    for name, dag_id in started.items():
        workflow, selected = batch[name]
        runner.follow(client, workflow, dag_id, RUN_ID, selected, None, timeout=900)
        reports[name] = (dag_id, runner.read_report(client, workflow, dag_id, RUN_ID, selected))
    yield reports, work
    for dag_id in started.values():
        shutil.rmtree(engine_run_dir("airflow", dag_id), ignore_errors=True)


def _task_log_lines(airflow_server, dag_id: str) -> list[str]:
    logs = airflow_server.home / "logs" / f"dag_id={dag_id}"
    return [line for f in logs.rglob("*.log") for line in f.read_text(errors="replace")
            .splitlines()]


@pytest.mark.slow
def test_airflow_runs_every_osmo_field(runs, airflow_server):
    from groupplug.launch import engine_run_dir

    reports, work = runs
    dag_id, report = reports["fields"]
    assert report.state == "succeeded", report.to_json()
    osmo_fields.check_outputs(engine_run_dir("airflow", dag_id, RUN_ID) / "outputs", work)
    # One line per run and image, in the log of whichever of its two members ran first.
    lines = _task_log_lines(airflow_server, dag_id)
    assert len(osmo_fields.image_warnings(lines)) == 1, lines[-40:]


@pytest.mark.slow
def test_airflow_member_fails_when_its_input_did_not_run_here(runs):
    from groupplug.launch import engine_run_dir

    reports, _ = runs
    dag_id, report = reports["read-alone"]
    read = report.groups["read"].members["read"]
    assert report.state == "failed" and read.state.value == "failed"
    missing = engine_run_dir("airflow", dag_id, RUN_ID) / "outputs" / "write"
    assert "'write'" in read.reason and str(missing) in read.reason, read.reason


@pytest.mark.slow
@pytest.mark.parametrize("path", osmo_fields.EXAMPLES, ids=lambda p: p.stem)
def test_osmo_examples_match_the_local_engine(path: Path, runs, tmp_path, monkeypatch):
    reports, work = runs
    monkeypatch.chdir(tmp_path)
    assert reports[path.stem][1].outcome() == osmo_fields.local_outcome(path, tmp_path / "run")
    if path.stem == "serial_pipeline":  # its relative files: went to the tasks' own directories
        assert not (work / "check.sh").exists() and not (work / "square.py").exists()


def test_osmo_tokens_are_kept_from_jinja_and_other_templates_still_render():
    from groupplug.airflow.operators import GroupSetupOperator, ShellOperator

    command = "cat {{input:0}}/x > {{ output }}/y; echo {{ ds }}"
    # Jinja alone renders an unknown {{output}} as an empty string: a silent wrong path.
    expected = "cat {{input:0}}/x > {{ output }}/y; echo 2026-01-01"
    shell = ShellOperator(task_id="t", command=command)
    assert shell.render_template(command, {"ds": "2026-01-01"}) == expected
    setup = GroupSetupOperator(task_id="t__setup", member="t", info={}, command=command)
    assert setup.render_template(command, {"ds": "2026-01-01"}) == expected
