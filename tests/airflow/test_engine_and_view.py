"""``groupplug run --engine airflow`` and the group-status view, on a real Airflow."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from groupplug.airflow import runner
from groupplug.loader import load_workflow
from groupplug.runner import LocalRunner

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"


# `groupplug -v run examples/workflows/training.yaml --engine airflow`, the README's command,
# is run through the CLI on a terminal by test_readme.py: exit 0, the story, and the tree the
# local engine leaves (every member's state and reason). `--json` through the CLI: the README's
# DAG-file command and test_interrupts.


@pytest.fixture(scope="module")
def finished_runs(airflow_server):
    """The other examples, run on the shared Airflow: {name: (dag_id, run_id, report)}."""
    client = airflow_server.client()
    runs = {}
    for name in ("nested_pipeline", "directives"):
        workflow = load_workflow(EXAMPLES / f"{name}.yaml")
        dag_id = runner.dag_id_for(workflow)
        runner.write_dag(airflow_server, workflow, dag_id, [])
        client.wait_for_dag(dag_id)
        client.trigger(dag_id, "example")
        runs[name] = (workflow, dag_id)
    results = {}
    for name, (workflow, dag_id) in runs.items():
        runner.follow(client, workflow, dag_id, "example", [], None, timeout=600)
        results[name] = (dag_id, "example", runner.read_report(client, workflow, dag_id,
                                                                "example", []))
    return results


@pytest.mark.parametrize("name", ["nested_pipeline", "directives"])
def test_examples_match_the_local_engine(name, finished_runs, tmp_path):
    local = LocalRunner(load_workflow(EXAMPLES / f"{name}.yaml"), log_dir=tmp_path).run()
    assert finished_runs[name][2].outcome() == local.outcome()


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_status_view_requires_airflows_authentication(airflow_server, finished_runs):
    dag_id, run_id, report = finished_runs["nested_pipeline"]
    url = f"{airflow_server.url}/groupplug/dags/{dag_id}/runs/{run_id}/groups"
    status, _ = get(url)
    assert status in (401, 403)
    status, _ = get(url, token="not-a-jwt")
    assert status in (401, 403)
    status, body = get(url, token=airflow_server.client().token())
    assert status == 200, body
    view = json.loads(body)
    parent = "machine-learning-pipeline.model-experiments"
    assert view["groups"][parent]["state"] == "succeeded"
    assert view["groups"][parent]["counts"] == {"succeeded": 3}
    assert view["groups"][parent + ".hyperparameter-tuning"]["lead"] == "tune-lr"
    assert view["state"] == report.state
    status, page = get(url[: -len("groups")] + "view", token=airflow_server.client().token())
    assert status == 200 and "hyperparameter-tuning" in page and "tune-lr" in page


LIVE_DAG = """
from airflow.sdk import DAG
from groupplug.airflow import group, member

with DAG("view_live", schedule=None):
    with group("zeta", lead="lead", barrier=False) as zeta:
        member("lead", "sleep 12")
        member("follower", "sleep 600")
    with group("alpha") as alpha:
        member("after", "true")
    zeta >> alpha
"""


def test_view_shows_members_in_dag_order_and_refreshes_only_while_live(airflow_server,
                                                                        tmp_path):
    import time

    from groupplug.airflow import dagfile

    source = tmp_path / "view_live.py"
    source.write_text(LIVE_DAG)
    client = airflow_server.client()
    placed = dagfile.place(airflow_server.dags_folder, source)
    dagfile.wait_for_file(client, airflow_server.dags_folder, placed, 120)
    client.trigger("view_live", "live")
    token = client.token()
    url = f"{airflow_server.url}/groupplug/dags/view_live/runs/live/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until the follower runs (the lead then still does)
        view = json.loads(get(url + "groups", token)[1])
        if view["groups"]["zeta"]["members"].get("follower", {}).get("state") == "running":
            break
        time.sleep(0.5)
    assert view["live"] and view["groups"]["zeta"]["state"] == "running", view
    status, page = get(url + "view", token)
    assert status == 200 and 'http-equiv="refresh"' in page and "follower" in page
    dagfile.follow(client, "view_live", "live", 300)
    view = json.loads(get(url + "groups", token)[1])
    assert not view["live"] and view["state"] == "succeeded"
    assert list(view["groups"]) == ["zeta", "alpha"]  # upstream first, not alphabetical
    follower = view["groups"]["zeta"]["members"]["follower"]
    assert follower["state"] == "succeeded" and follower["reason"] == "lead finished"
    assert follower["attempts"] == 1 and follower["started_at"] < follower["finished_at"]
    status, page = get(url + "view", token)
    assert 'http-equiv="refresh"' not in page and "lead finished" in page


def test_live_tree_reads_task_states_of_every_member(airflow_server, finished_runs):
    """What ``groupplug run --engine airflow`` redraws on a terminal while the run goes on."""
    dag_id, run_id, _ = finished_runs["nested_pipeline"]
    workflow = load_workflow(EXAMPLES / "nested_pipeline.yaml")
    live = runner.live_report(airflow_server.client(), workflow, dag_id, run_id, [])
    tuning = live.groups["machine-learning-pipeline.model-experiments.hyperparameter-tuning"]
    assert {n: m.state.value for n, m in tuning.members.items()} == {
        "tune-lr": "succeeded", "tune-depth": "succeeded"}
    assert tuning.members["tune-lr"].started_at is not None
