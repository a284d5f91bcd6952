"""The barrier trigger: serialize round-trip and its decision over every member (no triggerer)."""

from __future__ import annotations

import importlib

import pytest

from groupplug.airflow.barrier import (
    LEAD_FINISHED,
    RELEASED,
    TIMED_OUT,
    BarrierTrigger,
    barrier_outcome,
)

MEMBERS = {"master": "train.master__setup", "worker-1": "train.worker-1__setup",
           "worker-2": "train.worker-2__setup"}


# Also run on the oldest supported engine (scripts/test airflow-oldest).
pytestmark = pytest.mark.compat


def test_trigger_rebuilds_from_serialize():
    trigger = BarrierTrigger(dag_id="d", run_id="r1", members=MEMBERS, lead="master",
                             started_at=100.0, timeout=600, poll_interval=0.5)
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls is BarrierTrigger
    rebuilt = cls(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["members"] == MEMBERS and kwargs["timeout"] == 600


def test_waits_until_every_member_arrived():
    states = {"train.master__setup": "success", "train.worker-1__setup": "running"}
    assert barrier_outcome(MEMBERS, "master", states, 0.0, None, 5.0) is None


def test_releases_when_all_arrived():
    states = {tid: "success" for tid in MEMBERS.values()}
    event = barrier_outcome(MEMBERS, "master", states, 0.0, None, 5.0)
    assert event["outcome"] == RELEASED
    assert sorted(event["arrived"]) == sorted(MEMBERS) and event["left"] == []


def test_failed_setup_leaves_the_count():
    states = {"train.master__setup": "success", "train.worker-1__setup": "success",
              "train.worker-2__setup": "failed"}
    event = barrier_outcome(MEMBERS, "master", states, 0.0, None, 5.0)
    assert event["outcome"] == RELEASED and event["left"] == ["worker-2"]


def test_lead_leaving_ends_the_barrier():
    states = {"train.master__setup": "failed", "train.worker-1__setup": "success"}
    assert barrier_outcome(MEMBERS, "master", states, 0.0, None, 5.0)["outcome"] == LEAD_FINISHED


def test_timeout_names_the_missing_members():
    states = {"train.master__setup": "success"}
    assert barrier_outcome(MEMBERS, "master", states, 0.0, 600, 599.0) is None
    event = barrier_outcome(MEMBERS, "master", states, 0.0, 600, 600.0)
    assert event["outcome"] == TIMED_OUT
    assert event["missing"] == ["worker-1", "worker-2"] and event["waited"] == 600
