"""OSMO's task fields on Prefect: the workflow of :mod:`tests.core.osmo_fields` as a flow run on
the session's real server (the local engine runs the same workflow in tests/core/test_launch)."""

from __future__ import annotations

import logging

import pytest

from tests.core import osmo_fields

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Members run in threads of this process: their working directory and data dir are ours."""
    monkeypatch.setenv("GROUPPLUG_DATA_DIR", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def _run(selected: list[str]):
    from groupplug.prefect.runner import _run

    return _run(osmo_fields.workflow(), selected, {"server": "current"})


def test_prefect_runs_every_osmo_field(prefect_server, workdir, caplog):
    with caplog.at_level(logging.WARNING, logger="groupplug.run"):
        report = _run([])
    assert report.state == "succeeded", report.to_json()
    run_dir = workdir / "data" / "prefect" / report.run_id  # the flow run's id
    osmo_fields.check_outputs(run_dir / "outputs", workdir / "work")
    lines = [r.getMessage() for r in caplog.records if r.name == "groupplug.run"]
    assert len(osmo_fields.image_warnings(lines)) == 1, lines


def test_prefect_member_fails_when_its_input_did_not_run_here(prefect_server, workdir):
    report = _run(["read"])
    read = report.groups["read"].members["read"]
    assert read.state.value == "failed"
    missing = workdir / "data" / "prefect" / report.run_id / "outputs" / "write"
    assert "'write'" in read.reason and str(missing) in read.reason, read.reason


def test_dask_process_members_get_their_task_run_directory_and_working_directory(
        prefect_server, workdir, dask_cluster):
    """On a process-based task runner the member's task is pickled to the worker, which runs
    it in the directory the run started in (ours), not its own."""
    from prefect_dask import DaskTaskRunner

    from groupplug.prefect.runner import _run

    runner = lambda members: DaskTaskRunner(address=dask_cluster.scheduler_address)  # noqa: E731
    report = _run(osmo_fields.workflow(), [], {"server": "current", "task_runner": runner})
    assert report.state == "succeeded", report.to_json()
    run_dir = workdir / "data" / "prefect" / report.run_id
    osmo_fields.check_outputs(run_dir / "outputs", workdir / "work")


@pytest.mark.parametrize("path", osmo_fields.EXAMPLES, ids=lambda p: p.stem)
def test_osmo_examples_match_the_local_engine(path, prefect_server, workdir):
    from groupplug.loader import load_workflow
    from groupplug.prefect.runner import _run

    report = _run(load_workflow(path), [], {"server": "current"})
    assert report.outcome() == osmo_fields.local_outcome(path, workdir / "local")
