"""The Airflow listeners raise groupplug's state hooks for group members and gates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from groupplug import hookimpl
from groupplug.airflow import listeners
from groupplug.airflow.gate import GroupGateOperator
from groupplug.airflow.operators import ShellOperator
from groupplug.airflow.watch import GroupInfo
from groupplug.airflow.wrap import install
from groupplug.plugins import get_plugin_manager
from groupplug.states import GroupState, MemberState

# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def groupplug_member_state_changed(self, group, member, new, reason):
        self.calls.append(("member", group, member, new))

    @hookimpl
    def groupplug_group_state_changed(self, group, new):
        self.calls.append(("group", group, new))


@pytest.fixture
def recorder():
    recorder = Recorder()
    pm = get_plugin_manager()
    pm.register(recorder)
    yield recorder
    pm.unregister(recorder)


def test_member_and_gate_changes_become_groupplug_hook_calls(recorder):
    member = ShellOperator(task_id="train.worker", command="true")
    install(member, GroupInfo(group="train", lead="master", members=("master", "worker"),
                              mains={"master": "train.master", "worker": "train.worker"}))
    gate = GroupGateOperator(task_id="train.__gate__", group="train", prefix="train",
                             members={"master": False, "worker": False}, lead="master",
                             ignore_nonlead_status=True, has_barrier=False)
    ti = SimpleNamespace(task=member, task_id="train.worker", run_id="r1")
    listeners.on_task_instance_running(previous_state=None, task_instance=ti)
    listeners.on_task_instance_success(previous_state=None, task_instance=ti)
    gate_ti = SimpleNamespace(task=gate, task_id="train.__gate__", run_id="r1")
    listeners.on_task_instance_failed(previous_state=None, task_instance=gate_ti)
    assert recorder.calls == [
        ("member", "train", "worker", MemberState.RUNNING),
        ("member", "train", "worker", MemberState.SUCCEEDED),
        ("group", "train", GroupState.FAILED),
    ]


def test_other_tasks_are_ignored(recorder):
    ti = SimpleNamespace(task=SimpleNamespace(), task_id="plain", run_id="r1")
    listeners.on_task_instance_success(previous_state=None, task_instance=ti)
    assert recorder.calls == []
