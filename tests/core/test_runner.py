"""The local engine's process handling: what the conformance table does not look at."""

from __future__ import annotations

import os
import time

import pytest

from groupplug.runner import LocalRunner
from groupplug.spec import Group, Task, Workflow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_a_member_kills_its_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    worker = Task("worker", command=f"sleep 600 & echo $! > {pidfile}; wait")
    workflow = Workflow("w", (Group("g", tasks=(Task("lead", command="sleep 1", lead=True),
                                                worker)),))
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert report.groups["g"].members["worker"].reason == "lead finished"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the member's background child survived the stop"


def test_member_output_goes_to_its_own_log(tmp_path):
    workflow = Workflow("w", (Group("g", tasks=(Task("hello", setup="echo preparing",
                                                     command="echo hi from $0"),)),))
    LocalRunner(workflow, log_dir=tmp_path).run()
    text = (tmp_path / "g.hello.log").read_text()
    assert "preparing" in text and "hi from sh" in text
    assert "--- groupplug: setup: echo preparing" in text


def test_selected_groups_run_and_the_others_are_skipped(tmp_path):
    marker = tmp_path / "ran"
    workflow = Workflow("w", (
        Group("a", tasks=(Task("x", command=f"touch {marker}-a"),)),
        Group("b", upstream=("a",), tasks=(Task("y", command=f"touch {marker}-b"),)),
    ))
    report = LocalRunner(workflow, selected=["b"]).run()
    assert report.groups["a"].state.value == "skipped"
    assert report.groups["b"].state.value == "succeeded"
    assert not (tmp_path / "ran-a").exists() and (tmp_path / "ran-b").exists()
    assert report.state == "succeeded"


def test_inputs_inside_a_group_order_its_members(tmp_path):
    out = tmp_path / "order"
    workflow = Workflow("w", (Group("g", barrier=False, tasks=(
        Task("second", command=f"echo second >> {out}", inputs=("first",), lead=True),
        Task("first", command=f"sleep 0.5; echo first >> {out}"),
    )),))
    report = LocalRunner(workflow).run()
    assert report.state == "succeeded"
    assert out.read_text().split() == ["first", "second"]


def test_a_runner_runs_once():
    runner = LocalRunner(Workflow("w", (Group("g", tasks=(Task("x", command="true"),)),)))
    runner.run()
    with pytest.raises(RuntimeError, match="create a new one"):
        runner.run()
