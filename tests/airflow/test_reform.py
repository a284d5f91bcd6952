"""The barrier re-formed after a restart on Airflow (``groupplug.airflow.reform``).

Unit tests with a stand-in task instance, because the moments that matter (a restarted member
arrived, the retrier's new try not yet) are what a real scheduler cannot hold still. The
conformance cases ``lead-retry-restarts-others`` and ``nonlead-retry-strict-restarts-others``
prove the same on a real Airflow (their ``reform`` check)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from groupplug.airflow import member_run
from groupplug.airflow.member_run import MemberRun, resume_member
from groupplug.airflow.naming import XCOM_ARRIVED, XCOM_MEMBER, XCOM_TRY
from groupplug.airflow.watch import GroupInfo, GroupWatch

LAX = GroupInfo(group="g", lead="a", members=("a", "b"), mains={"a": "g.a", "b": "g.b"},
                barrier="g.__barrier__", barrier_on=True, retries={"a": 1})


class GroupTI:
    """Member ``b``'s view of a group whose lead ``a`` (retries: 1) fails while ``b`` works.

    The lead's state and XCom are set by the test; ``b``'s pushes are kept per key, and the
    moment ``b`` begins each run of its work is recorded.
    """

    task_id, dag_id, run_id, map_index, try_number = "g.b", "d", "r", -1, 1

    def __init__(self) -> None:
        self.task = self
        self.lead_state = "running"
        self.lead: dict[str, Any] = {XCOM_TRY: 1}
        self.pushed: dict[str, Any] = {}
        self.lock = threading.Lock()

    def get_task_states(self, **_: Any) -> dict[str, Any]:
        with self.lock:
            return {"r": {"g.a": self.lead_state, "g.b": "running",
                          "g.__barrier__": "success"}}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, *, task_ids: str, key: str, **_: Any) -> Any:
        with self.lock:
            return self.lead.get(key) if task_ids == "g.a" else None

    def on_kill(self) -> None:
        pass

    def execute(self, context: Any) -> str:  # the member's operator, resumed by its trigger
        self.executed_at = time.time()
        return "done"

    def fail_lead(self) -> None:
        with self.lock:
            self.lead_state = "up_for_retry"

    def lead_new_try(self, *, arrive: bool) -> None:
        with self.lock:
            self.lead_state = "running"
            self.lead = {XCOM_TRY: 2}
            if arrive:
                self.lead[XCOM_ARRIVED] = {"epoch": 1, "at": time.time()}


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(member_run, "POLL_INTERVAL", 0.02)


def _later(seconds: float, action) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    thread.start()
    return thread


def test_the_epoch_counts_the_lead_tries_or_every_members_when_strict():
    watch = GroupWatch(LAX)
    watch.tries.update({"a": 3, "b": 2})
    assert watch.epoch() == 2  # b's own retry restarts no one: ignore_nonlead_status
    strict = GroupWatch(GroupInfo(group="g", lead="a", members=("a", "b"),
                                  mains={"a": "g.a", "b": "g.b"}, ignore_nonlead_status=False))
    strict.tries.update({"a": 3, "b": 2})
    assert strict.epoch() == 3
    assert GroupWatch(LAX).epoch() == 0


def test_a_restarted_member_begins_again_only_when_the_retrier_arrives():
    ti = GroupTI()
    began: list[float] = []
    arrived: list[float] = []

    def work() -> str:
        began.append(time.time())
        if len(began) == 1:
            ti.fail_lead()  # the watcher sees the retry and restarts b
            time.sleep(30)
        return "done"

    def new_try() -> None:
        ti.lead_new_try(arrive=True)
        arrived.append(time.time())

    _later(1.0, new_try)  # the lead's new try comes a second after b restarted
    assert MemberRun(LAX, {"ti": ti}).run(work) == "done"
    assert len(began) == 2
    assert began[1] >= arrived[0], "b began again before the lead's new try arrived"
    assert ti.pushed[XCOM_ARRIVED]["epoch"] == 1
    assert ti.pushed[XCOM_MEMBER]["state"] == "succeeded"


def test_a_retry_not_arriving_times_out_naming_it():
    info = GroupInfo(**{**LAX.to_dict(), "barrier_timeout": 0.5})
    ti = GroupTI()
    began: list[float] = []

    def work() -> None:
        began.append(time.time())
        ti.fail_lead()
        time.sleep(30)

    with pytest.raises(Exception, match="stopped by group g") as raised:
        MemberRun(info, {"ti": ti}).run(work)
    assert type(raised.value).__name__ == "AirflowFailException"
    assert len(began) == 1
    record = ti.pushed[XCOM_MEMBER]
    assert record["state"] == "failed"
    assert record["reason"] == 'BarrierTimeout: group "g" waited 0.5s; not arrived: a'


def test_the_lead_ending_while_others_wait_ends_them_in_its_state():
    ti = GroupTI()
    runs: list[int] = []

    def work() -> None:
        runs.append(1)
        ti.fail_lead()
        time.sleep(30)

    def lead_fails_for_good() -> None:
        with ti.lock:
            ti.lead_state = "failed"

    _later(1.0, lead_fails_for_good)
    with pytest.raises(Exception, match="lead finished"):
        MemberRun(LAX, {"ti": ti}).run(work)
    assert len(runs) == 1, "b began again after its lead had ended"
    record = ti.pushed[XCOM_MEMBER]
    assert (record["state"], record["reason"]) == ("failed", "lead finished")


def test_a_member_starting_after_the_retry_arrives_for_that_epoch_first():
    """A member whose main task first runs once the lead already retried (it was queued) waits
    at the epoch-1 barrier too, or the others would wait for it in vain."""
    ti = GroupTI()
    ti.lead_state = "up_for_retry"
    began: list[float] = []
    _later(0.5, lambda: ti.lead_new_try(arrive=True))
    assert MemberRun(LAX, {"ti": ti}).run(lambda: began.append(time.time())) is None
    assert ti.pushed[XCOM_ARRIVED]["epoch"] == 1
    assert ti.lead[XCOM_ARRIVED]["at"] <= began[0]


def test_a_member_resumed_by_its_trigger_to_restart_waits_for_the_retry_too():
    """A deferred member's trigger saw the retry; the task resumes in a new process whose watch
    has read nothing yet: it reads the group once to know the epoch, then waits like the rest."""
    ti = GroupTI()
    ti.lead_state = "up_for_retry"
    _later(0.5, lambda: ti.lead_new_try(arrive=True))
    assert resume_member(LAX.to_dict(), {"ti": ti}, {"groupplug": "restart"}) == "done"
    assert ti.pushed[XCOM_ARRIVED]["epoch"] == 1
    assert ti.lead[XCOM_ARRIVED]["at"] <= ti.executed_at
