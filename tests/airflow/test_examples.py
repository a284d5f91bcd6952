"""The example DAGs load in a real DagBag with no import errors and no groupplug warnings."""

from __future__ import annotations

import warnings
from pathlib import Path

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
