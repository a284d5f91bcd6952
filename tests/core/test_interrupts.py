"""Ctrl-C, SIGTERM and killed member shells on the local engine, through ``groupplug run``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.interrupts import BARRIER_YAML, ROOT, run_and_signal

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_every_member_and_reports_interrupted(tmp_path, sig):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    spec.write_text(BARRIER_YAML.format(marks=marks))
    ready = [marks / n for n in ("master", "worker-1", "worker-2")]
    result = run_and_signal(["run", str(spec), "--json"], tmp_path, ready, sig)
    assert result.returncode == 130, result.stderr
    assert result.left == [], "member commands outlived the run"
    assert result.homes_left == [], result.tmp_left
    report = result.report()
    assert report["state"] == "interrupted" and report["reason"] == f"interrupted ({sig.name})"
    members = report["groups"]["train"]["members"]
    assert {m["state"] for m in members.values()} == {"failed"}, members
    assert all(sig.name in m["reason"] for m in members.values()), members


def test_a_killed_member_shell_takes_its_children_down(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "workflow:\n  name: w\n  tasks:\n"
        f"  - {{name: solo, command: 'sleep 300 & echo $! > {marks}/child; echo $$ > {marks}/sh;"
        " wait'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "groupplug.cli", "run", str(spec), "--json"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (marks / "sh").exists() or not (marks / "sh").read_text().strip():
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        child = int((marks / "child").read_text())
        os.kill(int((marks / "sh").read_text()), signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the member's sh was killed and its child kept running"
    assert proc.returncode == 1, err
    assert "exit -9" in out, out


def _alive(pid: int) -> bool:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_second_ctrl_c_stops_at_once_and_still_cleans_up(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    # Members that ignore SIGTERM: the first stop waits out their kill grace, the second
    # Ctrl-C comes meanwhile.
    stubborn = BARRIER_YAML.format(marks=marks).replace('command: "', "command: \"trap '' TERM; ")
    spec.write_text(stubborn)
    ready = [marks / n for n in ("master", "worker-1", "worker-2")]

    def twice(proc, mark):
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)

    result = run_and_signal(["run", str(spec), "--json"], tmp_path, ready, signal.SIGINT,
                            before_signal=twice)
    assert result.returncode == 130, result.stderr
    assert "stopping at once" in result.stderr, result.stderr
    assert result.left == [], "member commands outlived the run"
    assert result.report()["state"] == "interrupted"
