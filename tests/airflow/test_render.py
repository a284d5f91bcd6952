"""Real DAGs rendered from specs: TaskGroups, ids, edges, tooltips, directives, gang checks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from groupplug.airflow import dag_from_yaml, render_workflow
from groupplug.exceptions import GroupplugValueError
from groupplug.loader import loads_workflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"


# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


def test_training_renders_setup_barrier_main_and_gate():
    dag = dag_from_yaml(EXAMPLES / "training.yaml", "training")
    assert sorted(dag.task_group_dict) == ["evaluate", "prepare", "train"]
    train = dag.task_group_dict["train"]
    assert "lead: master" in train.tooltip and "barrier: on, timeout 120s" in train.tooltip
    assert "ignore non-lead status: true" in train.tooltip
    assert train.group_display_name == "train [lead=master, barrier]"
    master = dag.get_task("train.master")
    assert master.upstream_task_ids == {"train.master__setup", "train.__barrier__"}
    assert dag.get_task("train.__barrier__").upstream_task_ids == {"prepare.__gate__"}
    assert dag.get_task("train.worker-1__setup").upstream_task_ids == {"prepare.__gate__"}
    gate = dag.get_task("train.__gate__")
    assert gate.trigger_rule == "all_done"
    assert {"train.master", "train.worker-1", "train.worker-2"} <= gate.upstream_task_ids
    # downstream groups hang off the gate only: one edge per root, not leaves x roots
    assert dag.get_task("evaluate.score").upstream_task_ids == {"train.__gate__"}


def test_directives_map_to_operator_arguments():
    dag = dag_from_yaml(EXAMPLES / "training.yaml", "training2")
    master = dag.get_task("train.master")
    assert master.execution_timeout == timedelta(hours=2)
    assert master.resources.gpus.qty == 1 and master.resources.ram.qty == 16 * 1024


def test_nested_groups_are_nested_task_groups():
    dag = dag_from_yaml(EXAMPLES / "nested_pipeline.yaml", "nested")
    parent = dag.task_group_dict["machine-learning-pipeline.model-experiments"]
    assert sorted(parent.children) == [
        "machine-learning-pipeline.model-experiments.hyperparameter-tuning",
        "machine-learning-pipeline.model-experiments.model-training",
    ]
    final = dag.get_task("machine-learning-pipeline.model-experiments.model-training."
                         "train-final-model")
    assert final.upstream_task_ids == {
        "machine-learning-pipeline.data-preparation.__gate__",
        "machine-learning-pipeline.model-experiments.hyperparameter-tuning.__gate__",
    }


def test_shared_task_runs_once_per_group_and_singletons_have_no_task_group():
    dag = dag_from_yaml(EXAMPLES / "directives.yaml", "signac")
    assert {"ex.simulate", "nightly.simulate", "analyze", "analyze__gate__"} <= set(dag.task_ids)
    assert dag.get_task("ex.simulate").resources.gpus.qty == 2, "the group's ngpu replaces 1"
    assert dag.get_task("nightly.simulate").resources.gpus.qty == 1


def test_selected_groups_only():
    dag = dag_from_yaml(EXAMPLES / "training.yaml", "selected", selected=["evaluate"])
    assert sorted(dag.task_ids) == ["evaluate.__gate__", "evaluate.score"]


def spec(extra_group: str = "", directives: str = "") -> str:
    return f"""
workflow:
  name: w
  groups:
  - name: g
    {extra_group}
    tasks:
    - {{name: a, lead: true, command: "true"{directives}}}
    - {{name: b, command: "true"}}
    - {{name: c, command: "true"}}
"""


def test_gang_group_larger_than_max_active_tasks_is_a_parse_time_error():
    workflow = loads_workflow(spec())
    with pytest.raises(GroupplugValueError, match="gang group of 3 members can never run at "
                       "once: the DAG's max_active_tasks gives it 2 slots"):
        render_workflow(workflow, "gang_small", gang=["g"], max_active_tasks=2)
    dag = render_workflow(workflow, "gang_ok", gang=["g"], max_active_tasks=3)
    assert "g.__barrier__" not in dag.task_ids
    assert dag.get_task("g.a")._groupplug_member["gang"]


def test_airflow_directives_pass_through_and_unknown_ones_are_errors():
    workflow = loads_workflow(spec(directives=", directives: {pool: gpus, pool_slots: 2, "
                                   "queue: fast, priority_weight: 5, execution_timeout: 90m}"))
    a = render_workflow(workflow, "pass").get_task("g.a")
    assert (a.pool, a.pool_slots, a.queue, a.priority_weight) == ("gpus", 2, "fast", 5)
    assert a.execution_timeout == timedelta(minutes=90)
    bad_slots = r"directives.pool_slots \(line 8\): pool_slots must be"
    with pytest.raises(GroupplugValueError, match=bad_slots):
        loads_workflow(spec(directives=", directives: {pool_slots: 0}"))
