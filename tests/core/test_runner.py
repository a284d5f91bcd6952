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


# -- Python members (task(..., fn=...)) --------------------------------------------------------

from tests.core import _python_members as pm  # noqa: E402


def _py(group: Group) -> Workflow:
    return Workflow("w", (group,))


def test_a_python_member_runs_its_callable_and_reports_its_return_value(tmp_path):
    workflow = _py(Group("g", tasks=(Task("calc", fn=pm.answer), Task("odd", fn=pm.not_json),
                                     Task("lead", fn=pm.lead_after_one_second, lead=True))))
    report = LocalRunner(workflow, log_dir=tmp_path).run()
    members = report.groups["g"].members
    assert members["calc"].state.value == "succeeded"
    assert members["calc"].result == {"answer": 42}
    assert members["odd"].result == "{1, 2}"  # JSON cannot hold a set: its repr
    assert members["lead"].result == "done"
    assert "computing the answer" in (tmp_path / "g.calc.log").read_text()
    assert report.to_json()["groups"]["g"]["members"]["calc"]["result"] == {"answer": 42}


def test_a_python_member_blocked_in_c_or_spinning_is_stopped_by_its_lead(tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("GROUPPLUG_TEST_PIDFILE", str(pidfile))
    workflow = _py(Group("g", barrier=False, tasks=(
        Task("lead", fn=pm.lead_after_one_second, lead=True),
        Task("sleeper", fn=pm.blocked_in_c), Task("spinner", fn=pm.busy_loop))))
    started = time.monotonic()
    report = LocalRunner(workflow, log_dir=tmp_path).run()
    members = report.groups["g"].members
    for name in ("sleeper", "spinner"):
        assert (members[name].state.value, members[name].reason) == ("succeeded",
                                                                   "lead finished")
        assert members[name].result is None  # stopped: it returned nothing
    assert time.monotonic() - started < 300, "the stopped members ran to their end"
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the stopped member's process survived"


def test_a_python_member_that_raises_fails_with_the_exception(tmp_path):
    workflow = _py(Group("g", tasks=(Task("lead", fn=pm.broken, lead=True),
                                     Task("w", fn=pm.blocked_in_c))))
    report = LocalRunner(workflow, log_dir=tmp_path).run()
    lead = report.groups["g"].members["lead"]
    assert report.state == "failed"
    assert lead.state.value == "failed"
    assert lead.reason == "fn failed (ValueError: bad input shard 3)"
    assert "Traceback" in (tmp_path / "g.lead.log").read_text()


def test_a_python_setup_runs_before_the_barrier(tmp_path):
    workflow = _py(Group("g", tasks=(
        Task("lead", fn=pm.lead_after_one_second, setup_fn=pm.slow_setup, lead=True),
        Task("w", fn=pm.answer))))
    report = LocalRunner(workflow, log_dir=tmp_path).run()
    members = report.groups["g"].members
    assert members["w"].started_at >= members["lead"].setup_finished_at - 0.05
    assert members["lead"].result == "done"


def test_a_callable_that_cannot_go_to_a_process_is_refused_before_anything_runs(tmp_path):
    from groupplug.exceptions import GroupplugValueError

    workflow = _py(Group("g", tasks=(Task("a", fn=lambda: 1),)))
    with pytest.raises(GroupplugValueError, match="g.a.fn: .*define it at module level"):
        LocalRunner(workflow, log_dir=tmp_path)


def test_a_task_with_nothing_to_run_is_never_a_stub_that_succeeds(tmp_path):
    from groupplug.exceptions import GroupplugValueError
    from groupplug.validation import check

    with pytest.raises(GroupplugValueError, match="has nothing to run"):
        check(_py(Group("g", tasks=(Task("a"),))))
