"""A member's first read of its group: retried while the API fails, and a member that never gets
an answer fails with its reason in its record (not a bare "task failed in Airflow" at the gate).
Unit tests with a stand-in task instance: the failing API is what cannot be staged in Airflow."""

from __future__ import annotations

from typing import Any

import pytest

from groupplug.airflow import member_run
from groupplug.airflow.member_run import MemberRun
from groupplug.airflow.naming import XCOM_MEMBER
from groupplug.airflow.watch import GroupInfo

INFO = GroupInfo(group="g", lead="a", members=("a", "b"), mains={"a": "g.a", "b": "g.b"})


class FlakyTI:
    """Fails ``fails`` state reads, then reports the lead still running."""

    task_id, dag_id, run_id, map_index, try_number = "g.b", "d", "r", -1, 1

    def __init__(self, fails: int):
        self.fails, self.pushed = fails, {}
        self.task = self

    def get_task_states(self, **_: Any) -> dict[str, Any]:
        if self.fails:
            self.fails -= 1
            raise ConnectionError("api-server busy")
        return {"r": {"g.a": "running", "g.b": "running"}}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, **_: Any) -> None:
        return None

    def on_kill(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(member_run, "POLL_INTERVAL", 0.01)


def test_a_failed_first_read_is_retried_then_the_work_runs():
    ti = FlakyTI(fails=3)
    assert MemberRun(INFO, {"ti": ti}).run(lambda: "done") == "done"
    assert ti.pushed[XCOM_MEMBER]["state"] == "succeeded"


def test_a_group_that_cannot_be_read_fails_the_member_with_the_reason_recorded(monkeypatch):
    monkeypatch.setattr(member_run, "FIRST_READ_SECONDS", 0.05)
    ti = FlakyTI(fails=10**6)
    ran = []
    with pytest.raises(RuntimeError, match="could not read group g"):
        MemberRun(INFO, {"ti": ti}).run(lambda: ran.append(1))
    assert ran == []
    record = ti.pushed[XCOM_MEMBER]
    assert record["state"] == "failed"
    assert "could not read group g" in record["reason"] and "api-server busy" in record["reason"]
