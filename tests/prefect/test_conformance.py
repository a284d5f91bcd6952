"""The core's conformance table on a real Prefect server: thread pool and Dask processes."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow
from tests.core.conformance import BARRIER_SCENARIOS, INPUT_SCENARIOS, OSMO_SCENARIOS, SCENARIOS

pytestmark = pytest.mark.slow
#: The table, plus the scenarios ordered by task inputs in both spellings (names and OSMO's
#: ``{task: NAME}``): only YAML carries task inputs, so the Python-member table leaves them out.
TABLE = SCENARIOS + INPUT_SCENARIOS + OSMO_SCENARIOS


def run(scenario, tmp_path, **options):
    from groupplug.prefect.runner import _run

    workflow = load_workflow(scenario.spec_yaml(str(tmp_path)))
    return _run(workflow, [], {"server": "current", **options})


@pytest.mark.parametrize("scenario", TABLE, ids=[s.id for s in TABLE])
def test_scenario_threads(scenario, tmp_path, prefect_server):
    report = run(scenario, tmp_path)
    assert scenario.check(report) == [], report.to_json()


@pytest.mark.parametrize("scenario", BARRIER_SCENARIOS, ids=[s.id for s in BARRIER_SCENARIOS])
def test_barrier_scenario_dask_processes(scenario, tmp_path, dask_cluster):
    from prefect_dask import DaskTaskRunner

    report = run(scenario, tmp_path, channel="variables",
                 task_runner=lambda members: DaskTaskRunner(address=dask_cluster.scheduler_address))
    assert scenario.check(report) == [], report.to_json()
