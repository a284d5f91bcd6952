"""The example DAGs load in a real DagBag with no import errors and no groupplug warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "examples" / "dags"


def test_examples_load_without_errors_or_warnings():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    ours = [w for w in caught if "groupplug" in str(w.filename) or "groupplug" in str(w.message)]
    assert ours == []
    assert {"groupplug_training", "groupplug_nested_pipeline", "groupplug_directives",
            "groupplug_yaml_training", "groupplug_yaml_nested_pipeline",
            "groupplug_yaml_directives"} <= set(bag.dag_ids)
    training = bag.dags["groupplug_training"]
    assert training.get_task("train.master").upstream_task_ids == {
        "train.master__setup", "train.__barrier__"}
    assert training.get_task("evaluate.score").upstream_task_ids == {"train.__gate__"}
    signac = bag.dags["groupplug_directives"]
    assert signac.get_task("project.ex.simulate").resources.gpus.qty == 2
    assert signac.get_task("project.nightly.simulate").resources.gpus.qty == 1


def test_hand_written_dag_equals_the_yaml_one():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    hand, yaml = bag.dags["groupplug_training"], bag.dags["groupplug_yaml_training"]
    assert set(hand.task_ids) == set(yaml.task_ids)
    for task_id in hand.task_ids:
        assert hand.get_task(task_id).upstream_task_ids == yaml.get_task(task_id).upstream_task_ids


NATIVE = {"native_training_dag": "groupplug_native_training", "fanout_dag": "groupplug_fanout",
          "mixed_dag": "groupplug_mixed"}
SHELL = {"training_dag": "groupplug_training", "nested_pipeline_dag": "groupplug_nested_pipeline",
         "directives_dag": "groupplug_directives"}


def test_native_examples_put_every_operator_in_its_group():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    for name, dag_id in NATIVE.items():
        assert str(DAGS / f"{name}.py") not in bag.import_errors, bag.import_errors
        assert dag_id in bag.dag_ids
    training = bag.dags["groupplug_native_training"]
    assert {"train.rank0__setup", "train.__barrier__"} <= training.get_task(
        "train.rank0").upstream_task_ids
    assert training.get_task("evaluate.score").upstream_task_ids == {"train.__gate__"}
    fanout = bag.dags["groupplug_fanout"]
    assert set(fanout.task_group_dict["fan-out"].children) >= {"fan-out.process",
                                                               "fan-out.merge"}
    mixed = bag.dags["groupplug_mixed"]
    assert set(mixed.task_group_dict["release"].children) >= {
        "release.publish", "release.wait_for_window", "release.stream_logs"}


@pytest.fixture(scope="module")
def native_reports(airflow_server):
    """Every single-DAG example file run together on the shared Airflow: {file stem: report}."""
    from groupplug.airflow import dagfile

    client = airflow_server.client()
    every = {**NATIVE, **SHELL}
    for name, dag_id in every.items():
        placed = dagfile.place(airflow_server.dags_folder, DAGS / f"{name}.py")
        assert dagfile.wait_for_file(client, airflow_server.dags_folder, placed, 180) == [dag_id]
        client.trigger(dag_id, "example")
    reports = {}
    for name, dag_id in every.items():
        dagfile.follow(client, dag_id, "example", 600)
        reports[name] = dagfile.read_report(client, dag_id, "example")
    return reports


@pytest.mark.slow
def test_native_training_example_report(native_reports):
    report = native_reports["native_training_dag"]
    assert report.state == "succeeded" and list(report.groups) == ["prepare", "train", "evaluate"]
    train = report.groups["train"]
    assert train.lead == "rank0" and train.state.value == "succeeded"
    assert train.members["rank0"].reason == ""
    for worker in ("rank1", "rank2"):  # stopped in time.sleep(600) when rank 0 returned
        member = train.members[worker]
        assert (member.state.value, member.reason) == ("succeeded", "lead finished")
        assert member.finished_at - train.members["rank0"].finished_at < 60
    assert all(m.setup_finished_at is not None for m in train.members.values())


@pytest.mark.slow
def test_fanout_example_report(native_reports):
    report = native_reports["fanout_dag"]
    assert report.state == "succeeded"
    assert list(report.groups) == ["list_shards", "fan-out"]
    fan_out = report.groups["fan-out"]
    assert fan_out.lead == "merge"
    assert set(fan_out.members) == {"merge", "process[0]", "process[1]", "process[2]",
                                    "process[3]"}
    assert {m.state.value for m in fan_out.members.values()} == {"succeeded"}


@pytest.mark.slow
def test_mixed_example_report(native_reports):
    report = native_reports["mixed_dag"]
    release = report.groups["release"]
    assert report.state == "succeeded" and release.lead == "publish"
    for stopped in ("wait_for_window", "stream_logs"):  # a deferred sensor and a shell
        member = release.members[stopped]
        assert (member.state.value, member.reason) == ("succeeded", "lead finished")


@pytest.mark.slow
def test_shell_member_examples_report(native_reports):
    training = native_reports["training_dag"]
    assert training.state == "succeeded"
    assert list(training.groups) == ["prepare", "train", "evaluate"]
    worker = training.groups["train"].members["worker-2"]
    assert (worker.state.value, worker.reason) == ("succeeded", "lead finished")
    nested = native_reports["nested_pipeline_dag"]
    assert nested.state == "succeeded"
    assert nested.counts("machine-learning-pipeline") == {"succeeded": 5}
    assert nested.groups["machine-learning-pipeline.model-experiments"].state.value == \
        "succeeded"
    directives = native_reports["directives_dag"]
    assert directives.state == "succeeded"
    assert set(directives.groups["project.nightly"].members) == {"simulate", "report"}
