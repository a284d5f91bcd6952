"""Task-instance states as events for the core GroupEngine (pure: no scheduler), and the barrier's
decision made by the same engine."""

from __future__ import annotations

from groupplug.airflow.barrier import (
    LEAD_FINISHED,
    RELEASED,
    TIMED_OUT,
    BarrierTrigger,
    barrier_outcome,
)
from groupplug.airflow.deferral import GroupDeferTrigger
from groupplug.airflow.watch import GroupInfo, GroupWatch, map_indexes, member_keys
from groupplug.states import MemberState

INFO = GroupInfo(group="g", lead="lead", members=("lead", "w1", "w2"),
                 mains={"lead": "g.lead", "w1": "g.w1", "w2": "g.w2"})
STRICT = GroupInfo(**{**INFO.__dict__, "ignore_nonlead_status": False})


def test_lead_success_stops_running_members_with_its_state():
    watch = GroupWatch(INFO)
    running = {"g.lead": "running", "g.w1": "running", "g.w2": "running"}
    assert watch.verdict("w1", watch.update(running)) is None
    actions = watch.update({**running, "g.lead": "success"})
    verdict = watch.verdict("w1", actions)
    assert (verdict.kind, verdict.state, verdict.reason) == (
        "stop", MemberState.SUCCEEDED, "lead finished")


def test_a_member_starting_after_the_lead_finished_is_stopped_at_once():
    watch = GroupWatch(INFO)
    verdict = watch.verdict("w2", watch.update({"g.lead": "failed", "g.w2": "running"}))
    assert (verdict.kind, verdict.state) == ("stop", MemberState.FAILED)


def test_nonlead_failure_ignored_unless_strict_and_the_cause_comes_first():
    loose, strict = GroupWatch(INFO), GroupWatch(STRICT)
    states = {"g.lead": "running", "g.w1": "failed", "g.w2": "running"}
    assert loose.verdict("w2", loose.update(states)) is None
    verdict = strict.verdict("w2", strict.update(states))
    assert (verdict.state, verdict.reason) == (MemberState.FAILED, "task w1 failed")
    # The lead was stopped by the group (its record says so): w1's failure is still the cause.
    late = GroupWatch(STRICT)
    records = {"lead": {"stopped": True}, "w1": {}}
    both = {"g.lead": "failed", "g.w1": "failed", "g.w2": "running"}
    verdict = late.verdict("w2", late.update(both, record_of=records.get))
    assert verdict.reason == "task w1 failed"


def test_a_deferred_lead_resuming_is_no_retry():
    """Deferred -> scheduled -> queued -> running is one run resuming after its trigger fired:
    read as a retry it restarted every other member (and counted a barrier epoch no one
    arrives at)."""
    watch = GroupWatch(INFO)
    watch.update({"g.lead": "running", "g.w1": "running"})
    for state in ("deferred", "scheduled", "queued", "running", "up_for_reschedule", "scheduled",
                  "running"):
        assert watch.verdict("w1", watch.update({"g.lead": state, "g.w1": "running"})) is None
    assert watch.epoch() == 0
    actions = watch.update({"g.lead": "up_for_retry", "g.w1": "running"})
    assert watch.verdict("w1", actions).kind == "restart"
    assert watch.epoch() == 1


def test_lead_retry_restarts_others_once_seen_leaving_running():
    watch = GroupWatch(INFO)
    watch.update({"g.lead": "running", "g.w1": "running"})
    actions = watch.update({"g.lead": "up_for_retry", "g.w1": "running"})
    assert watch.verdict("w1", actions).kind == "restart"
    watch.restarted("w1")
    assert watch.verdict("w1", watch.update({"g.lead": "running", "g.w1": "running"})) is None
    loose = GroupWatch(INFO)  # a non-lead retrying alone restarts nobody
    loose.update({"g.lead": "running", "g.w1": "running", "g.w2": "running"})
    actions = loose.update({"g.lead": "running", "g.w1": "up_for_retry", "g.w2": "running"})
    assert loose.verdict("w2", actions) is None
    strict = GroupWatch(STRICT)
    strict.update({"g.lead": "running", "g.w1": "running", "g.w2": "running"})
    actions = strict.update({"g.lead": "running", "g.w1": "up_for_retry", "g.w2": "running"})
    assert strict.verdict("w2", actions).kind == "restart"


def test_mapped_instances_are_members_and_join_as_they_appear():
    info = GroupInfo(group="g", lead="lead", members=("lead", "shard"),
                     mains={"lead": "g.lead", "shard": "g.shard"}, mapped=("shard",))
    states = {"g.lead": "running", "g.shard_0": "running", "g.shard_1": "running"}
    assert map_indexes(states, "g.shard") == [0, 1]
    assert member_keys(info, states) == ["lead", "shard[0]", "shard[1]"]
    watch = GroupWatch(info)
    watch.update({"g.lead": "running"})
    actions = watch.update({**states, "g.lead": "success"})
    assert watch.verdict("shard[1]", actions).reason == "lead finished"


def test_barrier_timeout_fails_waiters_and_the_lead_ending_stops_the_rest():
    info = GroupInfo(group="g", lead="lead", members=("lead", "slow"),
                     mains={"lead": "g.lead", "slow": "g.slow"},
                     setups={"lead": "g.lead__setup", "slow": "g.slow__setup"},
                     barrier="g.__barrier__", barrier_on=True)
    watch = GroupWatch(info)
    watch.update({"g.lead__setup": "success", "g.slow__setup": "running"})
    record = {"outcome": "timed_out", "reason": 'BarrierTimeout: group "g" waited 3s'}
    actions = watch.update({"g.lead__setup": "success", "g.slow__setup": "running",
                            "g.__barrier__": "failed"}, barrier_record=lambda: record)
    verdict = watch.verdict("slow", actions)
    assert (verdict.state, verdict.reason) == (MemberState.FAILED, "lead finished")
    assert watch.engine.reasons["lead"].startswith("BarrierTimeout")


def test_group_info_round_trips_as_a_plain_dict():
    assert GroupInfo.from_dict(STRICT.to_dict()) == STRICT
    assert INFO.watched_ids("w1") == ["g.lead", "g.w1"]
    assert STRICT.watched_ids("w1") == ["g.lead", "g.w1", "g.w2"]


def test_defer_trigger_serialize_round_trip():
    trigger = GroupDeferTrigger(inner=["a.b.C", {"x": 1}], info=INFO.to_dict(), member="w1",
                                dag_id="d", run_id="r", record={"runs": 1})
    path, kwargs = trigger.serialize()
    assert path == "groupplug.airflow.deferral.GroupDeferTrigger"
    assert GroupDeferTrigger(**kwargs).serialize() == (path, kwargs)


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


def test_barrier_timeout_counts_from_the_first_arrival():
    states = {"g.lead__setup": "success", "g.w1__setup": "running", "g.slow__setup": "running"}
    assert barrier_outcome(SETUPS, "lead", states, 20.0, 10, 29.0) is None  # 9 s after arrival
    assert barrier_outcome(SETUPS, "lead", states, 20.0, 10, 30.0)["outcome"] == TIMED_OUT
    nobody = {"g.lead__setup": "running", "g.w1__setup": "running", "g.slow__setup": "running"}
    assert barrier_outcome(SETUPS, "lead", nobody, None, 10, 1e9) is None  # no arrival yet


def test_trigger_serialize_round_trip():
    trigger = BarrierTrigger(dag_id="d", run_id="r", members=SETUPS, lead="lead",
                             started_at=12.5, timeout=600, first_arrival=14.0)
    path, kwargs = trigger.serialize()
    assert path == "groupplug.airflow.barrier.BarrierTrigger"
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["members"] == SETUPS and kwargs["timeout"] == 600
    assert kwargs["first_arrival"] == 14.0


def test_a_retry_between_two_reads_is_seen_from_try_numbers():
    watch = GroupWatch(INFO)
    running = {"g.lead": "running", "g.w1": "running"}
    watch.update(running, tries={"lead": 1})
    actions = watch.update(running, tries={"lead": 2})  # never seen leaving "running"
    assert watch.verdict("w1", actions).kind == "restart"
    late = GroupWatch(INFO)  # started after the lead's retry: no restart, but its epoch counts
    assert late.verdict("w1", late.update(running, tries={"lead": 2})) is None
    assert late.epoch_of_others("w1") == 2 and late.epoch_of_others("lead") == 1


def test_a_member_first_seen_between_tries_puts_the_group_in_a_later_epoch():
    watch = GroupWatch(STRICT)
    actions = watch.update({"g.lead": "running", "g.w1": "up_for_retry", "g.w2": "running"})
    assert watch.verdict("lead", actions) is None  # nothing of the lead's ran in epoch 1 yet
    assert watch.epoch_of_others("lead") == 2
