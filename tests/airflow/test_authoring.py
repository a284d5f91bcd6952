"""Hand-written grouped DAGs: ``group``/``member`` inside ``with DAG(...)``."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG

from groupplug.airflow import group, member
from groupplug.exceptions import GroupplugValueError

# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


def test_groups_render_to_task_groups_with_gate_to_root_edges():
    with DAG("af1_authoring", schedule=None) as dag:
        with group("train", lead="master", barrier_timeout=60) as train:
            member("master", "echo m", setup="true")
            member("worker-1", "echo w", setup="true")
        with group("evaluate") as evaluate:
            member("score", "echo s")
        train >> evaluate
    assert {"train", "evaluate"} <= set(dag.task_group_dict)
    tooltip = dag.task_group_dict["train"].tooltip
    assert "lead: master" in tooltip and "barrier: on, timeout 60s" in tooltip
    assert dag.get_task("train.worker-1").upstream_task_ids == {
        "train.worker-1__setup", "train.__barrier__"}
    assert dag.get_task("evaluate.score").upstream_task_ids == {"train.__gate__"}
    order = [t.task_id for t in dag.topological_sort()]
    assert order.index("train.__gate__") < order.index("evaluate.score")
    assert order.index("train.__barrier__") < order.index("train.master")


def test_nested_groups_nest_task_groups():
    with DAG("af1_nested", schedule=None) as dag:
        with group("pipeline"):
            with group("prep"):
                member("clean", "echo c")
            with group("fit", lead="a", barrier=False):
                member("a", "echo a")
                member("b", "echo b")
    children = dag.task_group_dict["pipeline"].children
    assert {"pipeline.prep", "pipeline.fit"} <= set(children)
    assert "pipeline.fit.a" in dag.task_ids and "pipeline.fit.__gate__" in dag.task_ids
    assert "pipeline.fit.__barrier__" not in dag.task_ids


def test_two_leads_is_an_error_naming_the_fix():
    with pytest.raises(GroupplugValueError, match="2 leads") as info:
        with DAG("af1_two_leads", schedule=None):
            with group("train"):
                member("a", "echo a", lead=True)
                member("b", "echo b", lead=True)
    assert "pass lead=" in str(info.value)


def test_group_outside_a_dag_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="inside 'with DAG"):
        with group("lonely"):
            member("a", "echo a")
