"""A member's reads of its group around its work: the first read retried while the API fails
(a member that never gets an answer fails with its reason in its record, not a bare "task failed
in Airflow" at the gate), and one more read when the work ends, so a peer's retry the watcher
had not seen yet still restarts it. Unit tests with a stand-in task instance: a failing API and
a retry landing between two polls are what cannot be staged in Airflow on demand."""

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


class RetryingPeerTI(FlakyTI):
    """The lead's view of a strict group whose worker (retries: 1) goes to its second try
    while the lead's work runs, between two of the lead's polls."""

    def __init__(self):
        super().__init__(fails=0)
        self.task_id, self.worker_try = "g.a", 1

    def get_task_states(self, **_: Any) -> dict[str, Any]:
        return {"r": {"g.a": "running", "g.b": "running"}}

    def xcom_pull(self, *, task_ids: str, key: str, **_: Any) -> Any:
        return self.worker_try if task_ids == "g.b" and key == "groupplug_try" else None


def test_a_peer_retry_seen_only_when_the_work_ends_restarts_it(monkeypatch):
    monkeypatch.setattr(member_run, "POLL_INTERVAL", 3600)  # the watcher never polls here
    info = GroupInfo(group="g", lead="a", members=("a", "b"), mains={"a": "g.a", "b": "g.b"},
                     ignore_nonlead_status=False, retries={"b": 1})
    ti = RetryingPeerTI()
    runs = []

    def work() -> str:
        runs.append(1)
        ti.worker_try = 2  # the worker failed and its second try began meanwhile
        return "done"

    assert MemberRun(info, {"ti": ti}).run(work) == "done"
    assert len(runs) == 2, "the lead succeeded without the restart its peer's retry asks for"
    assert ti.pushed[XCOM_MEMBER]["state"] == "succeeded"
    assert ti.pushed[XCOM_MEMBER]["attempts"] == 2
