"""The core's conformance table on a real Airflow (scheduler, triggerer, LocalExecutor).

Every scenario's DAG is written into one embedded Airflow; they run a few at a time (all at
once overloads two cores: task starts then lag by a minute, which no scenario's timing allows);
each run's report (read from the gates) must satisfy the scenario, as on the local engine.
"""

from __future__ import annotations

import json
import uuid

import pytest

from groupplug.airflow import runner
from groupplug.loader import load_workflow
from tests.core.conformance import INPUT_SCENARIOS, OSMO_SCENARIOS, SCENARIOS

pytestmark = pytest.mark.slow
BATCH = 6
#: The table, plus the scenarios ordered by task inputs in both spellings (names and OSMO's
#: ``{task: NAME}``): only YAML carries task inputs, so the Python-member table leaves them out.
TABLE = SCENARIOS + INPUT_SCENARIOS + OSMO_SCENARIOS


@pytest.fixture(scope="module")
def reports(airflow_server, tmp_path_factory):
    client = airflow_server.client()
    runs = {}
    for scenario in TABLE:
        workflow = load_workflow(scenario.spec_yaml(str(tmp_path_factory.mktemp(scenario.id))))
        dag_id = f"conformance_{scenario.id.replace('-', '_')}_{uuid.uuid4().hex[:4]}"
        runner.write_dag(airflow_server, workflow, dag_id, [])
        runs[scenario.id] = (workflow, dag_id)
    return run_in_batches(client, runs)


def run_in_batches(client, runs):
    """Trigger ``{scenario id: (workflow, dag id)}`` BATCH at a time; the reports by id."""
    results = {}
    ids = list(runs)
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        for scenario_id in batch:
            client.wait_for_dag(runs[scenario_id][1], timeout=180)
            client.trigger(runs[scenario_id][1], "conformance")
        for scenario_id in batch:
            workflow, dag_id = runs[scenario_id]
            runner.follow(client, workflow, dag_id, "conformance", [], None, timeout=600)
            results[scenario_id] = runner.read_report(client, workflow, dag_id, "conformance", [])
    return results


@pytest.mark.parametrize("scenario", TABLE, ids=[s.id for s in TABLE])
def test_scenario(scenario, reports):
    report = reports[scenario.id]
    assert scenario.check(report) == [], json.dumps(report.to_json())
