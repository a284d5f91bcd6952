"""Any operator created inside ``with group(...)`` is a member: structure and parse-time errors.

Real DAGs are built and inspected (``task_group_dict``, edges, the member wrap); nothing runs
here (the stop cases run on a real scheduler in ``test_native_stop.py``).
"""

from __future__ import annotations

import pytest
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, TaskGroup, dag, task

from groupplug.airflow import group, member
from groupplug.airflow.wrap import MARK
from groupplug.exceptions import GroupplugValueError

# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


@task
def fit():
    return 1


@task
def shard(i):
    return i


def pull_image():
    return None


def _info(dag_, task_id):
    return getattr(dag_.get_task(task_id), MARK)


def test_every_operator_kind_in_the_block_is_in_the_task_group_and_a_member():
    from datetime import timedelta

    with DAG("native_kinds", schedule=None) as made:
        with group("train", lead="fit", barrier_timeout=60, setup={"fit": pull_image}):
            fit()
            shard.expand(i=[0, 1, 2])
            PythonOperator(task_id="py", python_callable=pull_image)
            BashOperator(task_id="bash", bash_command="sleep 1")
            EmptyOperator(task_id="empty")
            TimeDeltaSensor(task_id="wait", delta=timedelta(seconds=1), deferrable=True)
            member("shell", "echo hi", setup="echo setup")
    children = set(made.task_group_dict["train"].children)
    members = ["fit", "shard", "py", "bash", "empty", "wait", "shell"]
    for name in members:
        assert f"train.{name}" in children
        info = _info(made, f"train.{name}")  # wrapped: the group can stop it
        assert info["group"] == "train" and info["lead"] == "fit"
        assert list(info["members"]) == members
        # a barrier group: each member has a setup before the barrier, then its main work
        assert made.get_task(f"train.{name}").upstream_task_ids >= {
            f"train.{name}__setup", "train.__barrier__"}
    assert _info(made, "train.shard")["mapped"] == ["shard"]
    assert made.get_task("train.fit__setup").python_callable is pull_image
    assert made.get_task("train.shell__setup").command == "echo setup"
    gate = made.get_task("train.__gate__")
    assert {f"train.{n}" for n in members} <= gate.upstream_task_ids


def test_at_dag_functions_and_nested_groups_nest_task_groups():
    @dag(schedule=None, dag_id="native_at_dag")
    def pipeline():
        with group("outer", lead="first", barrier=False):
            first = fit.override(task_id="first")()
            with group("inner"):
                fit()
            first >> EmptyOperator(task_id="after")

    made = pipeline()
    assert set(made.task_group_dict) >= {"outer", "outer.inner"}
    assert "outer.inner.fit" in made.task_group_dict["outer.inner"].children
    assert _info(made, "outer.inner.fit")["group"] == "outer.inner"
    outer = _info(made, "outer.after")
    assert outer["members"] == ["first", "after"] and outer["barrier_on"] is False
    assert made.get_task("outer.after").upstream_task_ids == {"outer.first"}


def test_groups_chain_through_gates():
    with DAG("native_chain", schedule=None) as made:
        with group("a") as a:
            fit()
        with group("b") as b:
            fit()
        a >> b
    assert "a.__gate__" in made.get_task("b.fit").upstream_task_ids


def test_plain_tasks_and_taskflow_outputs_chain_to_and_from_a_group():
    with DAG("chain_plain", schedule=None) as made:
        @task
        def download():
            return 1

        out = download()
        with group("train", lead="a") as train:
            member("a", "true")
            member("b", "true")
        after = EmptyOperator(task_id="after")
        out >> train >> after
    assert {"train.a__setup", "train.b__setup"} <= made.task_dict["download"].downstream_task_ids
    assert made.task_dict["after"].upstream_task_ids == {"train.__gate__"}


def test_a_mapped_lead_is_a_parse_time_error():
    with pytest.raises(GroupplugValueError, match="'shard' is a mapped task"):
        with DAG("native_mapped_lead", schedule=None):
            with group("fan", lead="shard"):
                shard.expand(i=[1, 2])
                fit()


def test_a_lead_that_is_not_a_member_lists_the_members():
    with pytest.raises(GroupplugValueError, match=r"'nope' is not a member.*fit, shard"):
        with DAG("native_bad_lead", schedule=None):
            with group("train", lead="nope"):
                fit()
                shard.expand(i=[1])


def test_a_python_callable_in_member_names_the_api_to_use():
    with pytest.raises(GroupplugValueError, match=r"write a @task function.*PythonOperator"):
        with DAG("native_member_callable", schedule=None):
            with group("train"):
                member("lead", pull_image)  # type: ignore[arg-type]


def test_an_empty_group_speaks_python():
    with pytest.raises(GroupplugValueError, match=r"create operators or call @task functions"):
        with DAG("native_empty", schedule=None):
            with group("train"):
                pass


def test_an_operator_made_in_the_block_but_placed_elsewhere_is_an_error():
    with pytest.raises(GroupplugValueError, match=r"'elsewhere.stray'.*placed in no group"):
        with DAG("native_stray", schedule=None):
            other = TaskGroup("elsewhere")
            with group("train"):
                fit()
                EmptyOperator(task_id="stray", task_group=other)


def test_a_plain_task_group_inside_a_group_is_an_error():
    with pytest.raises(GroupplugValueError, match="plain TaskGroup 'train.sub'"):
        with DAG("native_plain_tg", schedule=None):
            with group("train"):
                fit()
                with TaskGroup("sub"):
                    EmptyOperator(task_id="x")


def test_a_failed_block_leaves_nothing_open_for_the_next_dag():
    with pytest.raises(GroupplugValueError):
        with DAG("native_fail_first", schedule=None):
            with group("train", lead="nope"):
                fit()
    with DAG("native_then_ok", schedule=None) as made:
        with group("train"):
            fit()
    assert "train.fit" in made.task_group_dict["train"].children


def test_yaml_members_are_shell_operators_through_the_same_wrap():
    from groupplug.airflow import render_workflow
    from groupplug.airflow.operators import ShellOperator
    from groupplug.loader import loads_workflow

    workflow = loads_workflow(
        "workflow:\n  name: y\n  groups:\n  - name: g\n    tasks:\n"
        "    - {name: lead, lead: true, command: 'sleep 1'}\n"
        "    - {name: w, command: 'sleep 2'}\n")
    made = render_workflow(workflow, "native_yaml")
    for name in ("lead", "w"):
        op = made.get_task(f"g.{name}")
        assert isinstance(op, ShellOperator) and _info(made, f"g.{name}")["group"] == "g"


def test_top_level_groups_of_one_dag_may_name_each_other_upstream():
    with DAG("native_upstream", schedule=None) as made:
        with group("train"):
            fit()
        with group("evaluate", upstream=["train"]):
            fit()
    assert made.get_task("evaluate.fit").upstream_task_ids == {"train.__gate__"}
    with pytest.raises(GroupplugValueError, match="unknown group 'nope'"):
        with DAG("native_upstream_bad", schedule=None):
            with group("train", upstream=["nope"]):
                fit()


def test_a_setup_operator_runs_before_the_members_arrival():
    with DAG("native_setup_op", schedule=None) as made:
        pull = BashOperator(task_id="pull", bash_command="echo pull")
        with group("train", lead="fit", setup={"fit": pull}):
            fit()
            shard.expand(i=[1])
    assert "train.fit__setup" in made.get_task("pull").downstream_task_ids
    assert "pull" not in _info(made, "train.fit")["members"]
