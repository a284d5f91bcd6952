"""Native members stopped by their group on a real scheduler + triggerer (LocalExecutor).

One DAG file holds the stop cases, run once: a ``@task`` lead ending after ~3 s must stop
``@task`` members blocked in ``time.sleep(600)`` and in a busy loop, a ``BashOperator`` running
``sleep 600`` (its subprocess killed), an operator with ``on_kill`` (which must run), a deferred
member (its trigger's cleanup must run), mapped members; a member downstream of a stopped one
must never start its work; a strict group (``ignore_nonlead_status=False``) stops everyone as
failed when a non-lead fails; a ``@task`` setup runs before the barrier.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

pytestmark = pytest.mark.slow

DAG_ID = "groupplug_native_stop"

DAG_FILE = '''
import time
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, BaseOperator, task
from groupplug_test_triggers import ForeverTrigger

from groupplug.airflow import group

MARKS = {marks!r}


class KillMe(BaseOperator):
    def execute(self, context):
        time.sleep(600)

    def on_kill(self):
        Path(MARKS, "on_kill").write_text("called")


class Waits(BaseOperator):
    def execute(self, context):
        self.defer(trigger=ForeverTrigger(marker=f"{{MARKS}}/trigger_cleanup"),
                   method_name="done")

    def done(self, context, event=None):
        Path(MARKS, "resumed").write_text("x")


@task
def lead():
    time.sleep(3)


@task
def sleeper():
    time.sleep(600)


@task
def busy():
    while True:
        pass


@task
def shard(i):
    time.sleep(600)


@task
def late():
    Path(MARKS, "late_ran").write_text("x")


@task
def fails():
    time.sleep(2)
    raise ValueError("boom")


@task
def pull():
    Path(MARKS, "setup_ran").write_text("x")


with DAG("{dag_id}", schedule=None):
    with group("stop", lead="lead", barrier=False):
        lead()
        sleeper() >> late()
        busy()
        BashOperator(task_id="bash", bash_command="sleep 600; echo groupplug-native-stop")
        KillMe(task_id="killme")
        Waits(task_id="waits")
        shard.expand(i=[0, 1])
    with group("strict", lead="lead", ignore_nonlead_status=False, setup={{"lead": pull}}):
        sleeper.override(task_id="lead")()
        fails()
        sleeper()
'''


@pytest.fixture(scope="module")
def run(airflow_server, tmp_path_factory):
    marks = tmp_path_factory.mktemp("marks")
    path = airflow_server.dags_folder / f"{DAG_ID}.py"
    path.write_text(textwrap.dedent(DAG_FILE.format(marks=str(marks), dag_id=DAG_ID)))
    client = airflow_server.client()
    client.wait_for_dag(DAG_ID, timeout=180)
    client.trigger(DAG_ID, "native")
    import time

    deadline = time.monotonic() + 400
    while client.dag_run(DAG_ID, "native")["state"] not in ("success", "failed"):
        assert time.monotonic() < deadline, client.task_instances(DAG_ID, "native")
        time.sleep(2)
    status = {g: client.xcom(DAG_ID, "native", f"{g}.__gate__", "groupplug_status")
              for g in ("stop", "strict")}
    tis = {(ti["task_id"], ti.get("map_index")): ti["state"]
           for ti in client.task_instances(DAG_ID, "native")}
    assert None not in status.values(), tis  # every gate left the group's status
    return status, marks


def test_lead_end_stops_every_kind_of_running_member_with_its_state(run):
    status, _ = run
    stop = status["stop"]
    assert stop["state"] == "succeeded"
    assert stop["members"]["lead"]["state"] == "succeeded"
    for name in ("sleeper", "busy", "bash", "killme", "waits", "shard[0]", "shard[1]"):
        got = stop["members"][name]
        assert (got["state"], got["reason"]) == ("succeeded", "lead finished"), (name, got)
    lead_end = stop["members"]["lead"]["finished_at"]
    for name in ("sleeper", "busy", "bash", "killme", "shard[0]", "shard[1]"):
        # stopped, not finished on its own: 600 s of sleep would not end within this run
        assert stop["members"][name]["finished_at"] - lead_end < 60


def test_on_kill_runs_and_the_subprocess_is_gone(run):
    _, marks = run
    assert (marks / "on_kill").read_text() == "called"
    left = subprocess.run(["pgrep", "-f", "groupplug-native-stop"], capture_output=True)
    assert left.returncode == 1, left.stdout  # no 'sleep 600' of the BashOperator left


def test_a_deferred_member_ends_and_its_trigger_cleans_up(run):
    status, marks = run
    assert status["stop"]["members"]["waits"]["state"] == "succeeded"
    assert (marks / "trigger_cleanup").read_text() == "cleaned up"
    assert not (marks / "resumed").exists()  # it never resumed into its own method


def test_a_member_that_had_not_started_never_starts(run):
    status, marks = run
    late = status["stop"]["members"]["late"]
    assert (late["state"], late["reason"], late["started_at"]) == (
        "succeeded", "lead finished", None)
    assert not (marks / "late_ran").exists()


def test_strict_group_a_failed_member_stops_the_others_as_failed(run):
    status, marks = run
    strict = status["strict"]
    assert strict["state"] == "failed"
    assert strict["members"]["fails"]["state"] == "failed"
    for name in ("lead", "sleeper"):
        got = strict["members"][name]
        assert (got["state"], got["reason"]) == ("failed", "task fails failed"), (name, got)
    assert (marks / "setup_ran").exists()  # the @task setup ran before the barrier
    assert strict["members"]["lead"]["setup_finished_at"] is not None
