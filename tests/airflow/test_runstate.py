"""A DAG run's facts as a groupplug report (pure: the module the view and the runner share)."""

from __future__ import annotations

import pytest

from groupplug.airflow.runstate import build_report
from groupplug.exceptions import GroupplugError

TASKS = [  # prepare (a plain task) -> outer.train (a group) -> tail (a plain mapped task)
    {"task_id": "tail", "downstream_task_ids": []},
    {"task_id": "outer.train.__gate__", "downstream_task_ids": ["tail"]},
    {"task_id": "outer.train.__barrier__", "downstream_task_ids": ["outer.train.lead",
                                                                  "outer.train.worker"]},
    {"task_id": "outer.train.lead", "downstream_task_ids": ["outer.train.__gate__"]},
    {"task_id": "outer.train.lead__setup", "downstream_task_ids": ["outer.train.lead"]},
    {"task_id": "outer.train.worker", "downstream_task_ids": ["outer.train.__gate__"]},
    {"task_id": "outer.train.worker__setup", "downstream_task_ids": ["outer.train.worker"]},
    {"task_id": "prepare", "downstream_task_ids": ["outer.train.lead__setup",
                                                   "outer.train.worker__setup",
                                                   "outer.train.__barrier__"]},
]
STATUS = {"state": "succeeded", "lead": "lead", "members": {
    "lead": {"state": "succeeded", "reason": "", "attempts": 1},
    "worker": {"state": "succeeded", "reason": "lead finished", "attempts": 1}}}


def ti(task_id: str, state: str | None, map_index: int = -1) -> dict:
    return {"task_id": task_id, "state": state, "map_index": map_index, "try_number": 1,
            "start_date": "2026-11-23T02:00:00+00:00" if state else None,
            "end_date": "2026-11-23T02:00:05+00:00" if state else None}


def test_finished_run_groups_from_gates_plain_tasks_as_singletons_in_dag_order():
    tis = [ti("prepare", "success"), ti("tail", "success", 0), ti("tail", "failed", 1)]
    report = build_report("d", "r", TASKS, tis, {"outer.train.__gate__": STATUS}.get,
                          live=False)
    assert list(report.groups) == ["prepare", "outer", "outer.train", "tail"]
    assert report.groups["outer.train"].members["worker"].reason == "lead finished"
    assert report.groups["outer"].state.value == "succeeded"  # rolled up from its child
    assert set(report.groups["tail"].members) == {"tail[0]", "tail[1]"}
    assert report.groups["tail"].state.value == "failed"
    assert report.state == "failed"  # the failed plain task is not hidden


def test_a_finished_run_whose_gate_left_no_status_is_an_error_naming_the_group():
    with pytest.raises(GroupplugError, match=r"group outer.train: its gate .* state: failed"):
        build_report("d", "r", TASKS, [ti("outer.train.__gate__", "failed")],
                     lambda gate: None, live=False)


def test_live_group_shows_setup_and_barrier_waits_without_a_verdict():
    tis = [ti("prepare", "success"), ti("outer.train.lead__setup", "success"),
           ti("outer.train.worker__setup", "running"), ti("outer.train.__barrier__", "deferred"),
           ti("outer.train.lead", None), ti("outer.train.worker", None),
           ti("outer.train.__gate__", None), ti("tail", None)]
    report = build_report("d", "r", TASKS, tis, lambda gate: None, live=True,
                          leads={"outer.train": "lead"})
    train = report.groups["outer.train"]
    assert {n: m.state.value for n, m in train.members.items()} == {
        "lead": "waiting", "worker": "setting_up"}
    assert train.state.value == "initializing" and train.lead == "lead"
    assert report.state == "running"
