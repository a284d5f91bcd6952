"""``groupplug run DAG_FILE.py --engine airflow``: hand-written DAG files, as a user runs them.

Most share the session's ``airflow_server``; the CLI's own runs of DAG files (each starting an
embedded Airflow, as the user's command does) are the README's command (test_readme.py) and
the missing-file case here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from groupplug.airflow.dagfile import run_dag_file
from groupplug.airflow.runner import run_workflow
from groupplug.airflow.runstate import dag_order, group_path
from groupplug.exceptions import GroupplugError
from groupplug.loader import load_workflow

pytestmark = pytest.mark.slow
GROUPPLUG = str(Path(sys.executable).with_name("groupplug"))

TWO_GROUPS = """
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

from groupplug.airflow import group, member

with DAG("dagfile_two_groups", schedule=None):
    with group("train", lead="master") as train:
        member("master", "sleep 2")
        member("worker", "sleep 600")
    with group("pipeline") as pipeline:
        with group("evaluate"):
            member("score", "true")
    train >> pipeline
    tail = BashOperator(task_id="tail", bash_command="{tail}")
    pipeline >> tail
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def groupplug_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GROUPPLUG, "run", *args, "--engine", "airflow", "--json"],
                          capture_output=True, text=True, timeout=600)


def test_a_dag_file_reports_every_group(airflow_server, tmp_path):
    """On the shared Airflow: the CLI's own DAG-file run (an embedded Airflow, one JSON object
    on stdout) is the README's command, run as written by test_readme.py."""
    dag = write(tmp_path, "two_groups.py", TWO_GROUPS.format(tail="true"))
    report = run_dag_file(str(dag), None, {"airflow": airflow_server}).to_json()
    assert report["workflow"] == "dagfile_two_groups" and report["state"] == "succeeded"
    # groups by dotted TaskGroup path, upstream first; parents just before their children
    assert list(report["groups"]) == ["train", "pipeline", "pipeline.evaluate", "tail"]
    train = report["groups"]["train"]
    assert train["state"] == "succeeded" and train["lead"] == "master"
    worker = train["members"]["worker"]
    assert worker["state"] == "succeeded" and worker["reason"] == "lead finished"
    assert set(worker) >= {"attempts", "setup_finished_at", "started_at", "finished_at"}
    assert worker["finished_at"] - train["members"]["master"]["finished_at"] < 60
    assert report["groups"]["pipeline"]["counts"] == {"succeeded": 1}
    assert report["groups"]["tail"]["members"]["tail"]["state"] == "succeeded"


def test_a_plain_task_that_fails_fails_the_report(airflow_server, tmp_path):
    """Not a silent success: the task outside every group is a singleton group of itself."""
    dag = write(tmp_path, "plain_fails.py",
                TWO_GROUPS.format(tail="exit 3").replace("dagfile_two_groups",
                                                         "dagfile_plain_fails"))
    report = run_dag_file(str(dag), None, {"airflow": airflow_server})
    assert report.state == "failed"
    assert report.groups["train"].state.value == "succeeded"
    assert report.groups["tail"].state.value == "failed"
    assert report.groups["tail"].members["tail"].state.value == "failed"


def test_a_failed_lead_fails_the_report_and_stops_its_worker(airflow_server, tmp_path):
    """On the shared Airflow; the CLI turns a failed report into exit 1 on every engine
    (tests/core/test_cli.py)."""
    dag = write(tmp_path, "lead_fails.py", """
        from airflow.sdk import DAG
        from groupplug.airflow import group, member

        with DAG("dagfile_lead_fails", schedule=None):
            with group("train", lead="master", barrier=False):
                member("master", "sleep 1; exit 3")
                member("worker", "sleep 600")
        """)
    report = run_dag_file(str(dag), None, {"airflow": airflow_server})
    assert report.state == "failed"
    train = report.to_json()["groups"]["train"]
    assert train["state"] == "failed"
    assert train["members"]["worker"] == {**train["members"]["worker"], "state": "failed",
                                          "reason": "lead finished"}


def test_an_import_error_is_a_groupplug_error_with_airflows_text(airflow_server, tmp_path):
    """On the shared Airflow; a GroupplugError is exit 2 with its text in the CLI
    (test_cli_missing_file_is_exit_2_before_starting_airflow goes through it)."""
    dag = write(tmp_path, "broken.py", """
        from airflow.sdk import DAG

        with DAG("dagfile_broken", schedule=None):
            raise ValueError("my DAG file is broken here")
        """)
    with pytest.raises(GroupplugError, match="(?s)failed to import.*my DAG file is broken here"):
        run_dag_file(str(dag), None, {"airflow": airflow_server})
    # A broken file in the dags folder is not every run's error: a stack's dags folder may hold
    # someone else's (before, every YAML run failed with its traceback).
    spec = write(tmp_path, "after.yaml", """
        workflow:
          name: after-broken
          groups:
          - name: g
            tasks:
            - {name: a, command: "true"}
        """)
    report = run_workflow(load_workflow(spec), [], {"airflow": airflow_server})
    assert report.state == "succeeded", report.to_json()


SEVERAL = """
from airflow.sdk import DAG
from groupplug.airflow import group, member

for name in ("dagfile_first", "dagfile_second"):
    with DAG(name, schedule=None):
        with group("only"):
            member("echo", f"echo {name}")
"""


def test_several_dags_need_a_dag_id_and_an_unknown_one_lists_the_files_dags(airflow_server,
                                                                            tmp_path):
    """On the shared Airflow (a GroupplugError is exit 2 in the CLI, as the import error
    test shows through it)."""
    dag = write(tmp_path, "several_shared.py", SEVERAL.replace("dagfile_", "shared_"))
    with pytest.raises(GroupplugError, match=r"defines 2 DAGs \(shared_first, shared_second\); "
                                             r"pick one with --dag-id ID"):
        run_dag_file(str(dag), None, {"airflow": airflow_server})
    report = run_dag_file(str(dag), "shared_second", {"airflow": airflow_server})
    assert report.workflow == "shared_second" and report.state == "succeeded"
    assert list(report.groups) == ["only"]
    with pytest.raises(GroupplugError, match=r"no DAG 'nope'; its DAGs: shared_first, "
                                             r"shared_second"):
        run_dag_file(str(dag), "nope", {"airflow": airflow_server})


def test_cli_missing_file_is_exit_2_before_starting_airflow(tmp_path):
    result = groupplug_run(str(tmp_path / "nowhere.py"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_gate_paths_and_dag_order():
    assert group_path("a.b.__gate__") == "a.b" and group_path("prepare__gate__") == "prepare"
    tasks = [{"task_id": "c", "downstream_task_ids": []},
             {"task_id": "b", "downstream_task_ids": ["c"]},
             {"task_id": "a", "downstream_task_ids": ["b"]}]
    assert dag_order(tasks) == ["a", "b", "c"]


@pytest.mark.compat
def test_a_dag_file_runs_where_it_lies(airflow_server, tmp_path):
    """Modules next to the file import, and paths built from its ``__file__`` resolve, as in
    the user's own dags folder (the scheduler, the dag-processor and the workers all parse it)."""
    (tmp_path / "where_helpers.py").write_text("COMMAND = 'true'\n")
    (tmp_path / "names.txt").write_text("alpha\nbeta\n")
    dag = write(tmp_path, "where_it_lies.py", """
        from pathlib import Path

        from airflow.sdk import DAG
        from groupplug.airflow import group, member
        from where_helpers import COMMAND

        NAMES = (Path(__file__).parent / "names.txt").read_text().split()
        with DAG("dagfile_where_it_lies", schedule=None):
            with group("g", lead=NAMES[0], barrier=False):
                for name in NAMES:
                    member(name, COMMAND)
        """)
    report = run_dag_file(str(dag), None, {"airflow": airflow_server})
    assert report.state == "succeeded"
    assert set(report.groups["g"].members) == {"alpha", "beta"}
