"""The member's decisions (DESIGN section 3 over Airflow task states) and the barrier rules."""

from __future__ import annotations

import pytest

from groupplug.airflow.barrier import (
    LEAD_FINISHED,
    RELEASED,
    TIMED_OUT,
    BarrierTrigger,
    barrier_outcome,
)
from groupplug.airflow.watch import MemberWatch

PEERS = {"lead": "g.lead", "w1": "g.w1", "w2": "g.w2"}


def no_cause(task_id):
    return None


@pytest.mark.parametrize(("lead_state", "state"), [("success", "succeeded"),
                                                   ("failed", "failed"),
                                                   ("upstream_failed", "failed")])
def test_lead_finishing_stops_a_member_with_the_leads_state(lead_state, state):
    watch = MemberWatch("w1", "lead", PEERS)
    decision = watch.decide({"g.lead": lead_state}, {}, no_cause)
    assert (decision.action, decision.state, decision.reason) == ("stop", state, "lead finished")


def test_ignored_nonlead_failure_changes_nothing_but_strict_mode_stops_with_the_cause():
    states = {"g.lead": "running", "g.w2": "failed"}
    assert MemberWatch("w1", "lead", PEERS).decide(states, {}, no_cause) is None
    strict = MemberWatch("lead", "lead", PEERS, ignore_nonlead_status=False)
    decision = strict.decide(states, {}, no_cause)
    assert (decision.state, decision.reason, decision.cause) == ("failed", "task w2 failed", "w2")
    # a member stopped by that failure passes the original cause on
    chained = MemberWatch("w1", "lead", PEERS, ignore_nonlead_status=False)
    decision = chained.decide({"g.lead": "failed"}, {}, lambda tid: "w2")
    assert decision.reason == "task w2 failed"


def test_a_watched_peers_new_try_restarts_the_member_and_counts_as_an_epoch():
    watch = MemberWatch("w1", "lead", PEERS)
    assert watch.decide({"g.lead": "running"}, {"g.lead": 1}, no_cause) is None
    assert watch.decide({"g.lead": "up_for_retry"}, {"g.lead": None}, no_cause) is None
    decision = watch.decide({"g.lead": "running"}, {"g.lead": 2}, no_cause)
    assert decision.action == "restart" and "lead retried (try 2)" in decision.reason
    assert watch.epoch == 2
    late = MemberWatch("w2", "lead", PEERS)  # started after the lead's retry: no restart owed
    assert late.decide({"g.lead": "running"}, {"g.lead": 2}, no_cause).action == "restart"
    assert late.decide({"g.lead": "running"}, {"g.lead": 2}, no_cause) is None


def test_nonlead_retry_only_restarts_others_in_strict_mode():
    tries = {"g.w2": 1}
    loose = MemberWatch("w1", "lead", PEERS)
    strict = MemberWatch("lead", "lead", PEERS, ignore_nonlead_status=False)
    for watch in (loose, strict):
        watch.decide({"g.w2": "running"}, tries, no_cause)
    assert loose.decide({"g.w2": "running"}, {"g.w2": 2}, no_cause) is None
    assert strict.decide({"g.w2": "running"}, {"g.w2": 2}, no_cause).action == "restart"


SETUPS = {"lead": "g.lead__setup", "w1": "g.w1__setup", "slow": "g.slow__setup"}


def test_barrier_releases_when_every_member_not_left_has_arrived():
    states = {"g.lead__setup": "success", "g.w1__setup": "running", "g.slow__setup": "failed"}
    assert barrier_outcome(SETUPS, "lead", states, 0, None, 1) is None
    states["g.w1__setup"] = "success"
    event = barrier_outcome(SETUPS, "lead", states, 0, None, 1)
    assert event["outcome"] == RELEASED and event["left"] == ["slow"]


def test_barrier_times_out_naming_the_missing_and_ends_when_the_lead_leaves():
    states = {"g.lead__setup": "success", "g.w1__setup": "success", "g.slow__setup": "running"}
    assert barrier_outcome(SETUPS, "lead", states, 0, 10, 9) is None
    event = barrier_outcome(SETUPS, "lead", states, 0, 10, 10)
    assert event["outcome"] == TIMED_OUT and event["missing"] == ["slow"]
    states["g.lead__setup"] = "failed"
    assert barrier_outcome(SETUPS, "lead", states, 0, 10, 1)["outcome"] == LEAD_FINISHED


def test_trigger_serialize_round_trip():
    trigger = BarrierTrigger(dag_id="d", run_id="r", members=SETUPS, lead="lead",
                             started_at=12.5, timeout=600)
    path, kwargs = trigger.serialize()
    assert path == "groupplug.airflow.barrier.BarrierTrigger"
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["members"] == SETUPS and kwargs["timeout"] == 600
