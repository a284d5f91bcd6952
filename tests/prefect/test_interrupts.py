"""Ctrl-C and SIGTERM on ``groupplug run --engine prefect``: every member stopped, every run
record final, the server and its temporary home gone, one JSON object ``interrupted``."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.core.interrupts import BARRIER_YAML, marked_processes, run_and_signal

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv-prefect" / "bin" / "python")
FLOW = Path(__file__).resolve().parent / "flows" / "interrupt_flow.py"
MEMBERS = ("master", "worker-1", "worker-2")


def test_ctrl_c_stops_a_yaml_run_and_leaves_nothing(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    spec.write_text(BARRIER_YAML.format(marks=marks))
    result = run_and_signal(["run", str(spec), "--engine", "prefect", "--json"], tmp_path,
                            [marks / m for m in MEMBERS], signal.SIGINT, python=PYTHON,
                            env={"PREFECT_API_URL": "", "GROUPPLUG_PREFECT_HOME": ""})
    print(f"prefect YAML run: SIGINT -> exit in {result.seconds:.1f}s")
    assert result.returncode == 130, result.stderr[-3000:]
    assert result.left == [], "processes outlived the run"
    assert result.homes_left == [], "the server's temporary home was left"
    report = result.report()
    assert report["state"] == "interrupted", report
    members = report["groups"]["train"]["members"]
    assert {m["state"] for m in members.values()} == {"failed"}, members
    assert all("SIGINT" in m["reason"] for m in members.values()), members


def test_sigterm_stops_a_flow_file_with_every_record_final(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    home = tmp_path / "home"  # kept, to read the run records after the run
    result = run_and_signal(["run", f"{FLOW}:interrupted", "--engine", "prefect", "--json"],
                            tmp_path, [marks / m for m in MEMBERS], signal.SIGTERM,
                            python=PYTHON, env={"PREFECT_API_URL": "",
                                                "GROUPPLUG_PREFECT_HOME": str(home),
                                                "GROUPPLUG_TEST_MARKS": str(marks)})
    print(f"prefect flow file: SIGTERM -> exit in {result.seconds:.1f}s")
    assert result.returncode == 130, result.stderr[-3000:]
    assert result.left == [], "processes outlived the run"
    report = result.report()
    assert report["state"] == "interrupted", report
    assert {m["state"] for m in report["groups"]["train"]["members"].values()} == {"failed"}
    with sqlite3.connect(home / "prefect.db") as db:
        flows = db.execute("SELECT name, state_type FROM flow_run").fetchall()
        tasks = db.execute("SELECT name, state_type FROM task_run").fetchall()
    assert {"train.master", "train.worker[0]", "train.worker[1]"} <= {n for n, _ in tasks}, tasks
    final = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
    assert [r for r in [*flows, *tasks] if r[1] not in final] == [], (flows, tasks)


def test_a_dead_server_ends_the_run_with_exit_3_and_what_is_known(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    spec.write_text(BARRIER_YAML.format(marks=marks))
    killed = []

    def kill_server(proc, mark):
        for line in marked_processes(mark):
            if "server start" in line:
                os.killpg(int(line.split()[0]), signal.SIGKILL)
                killed.append(line)

    result = run_and_signal(["run", str(spec), "--engine", "prefect", "--json"], tmp_path,
                            [marks / m for m in MEMBERS], None, python=PYTHON,
                            before_signal=kill_server, exit_timeout=120,
                            env={"PREFECT_API_URL": "", "GROUPPLUG_PREFECT_HOME": ""})
    print(f"prefect server killed -> exit in {result.seconds:.1f}s")
    assert killed, "no prefect server process found to kill"
    assert result.returncode == 3, result.stderr[-3000:]
    assert "the Prefect server died mid-run" in result.stderr
    assert "Traceback" not in result.stderr.split("the Prefect server died mid-run")[-1]
    assert result.left == [], "processes outlived the run"
    assert result.homes_left == [], "the server's temporary home was left"
    report = result.report()
    assert report["state"] == "failed" and "Prefect server died" in report["error"], report
    members = report["groups"]["train"]["members"]
    assert {m["state"] for m in members.values()} == {"failed"}, members
