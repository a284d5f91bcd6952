"""``groupplug.prefect.group`` inside real flows on a real Prefect server."""

from __future__ import annotations

import pytest

from groupplug import GroupplugValueError
from groupplug.states import GroupState, MemberState

pytestmark = pytest.mark.slow


def test_group_runs_as_a_subflow_and_the_lead_stops_the_others(prefect_server):
    from prefect import flow

    from groupplug.prefect import group, member

    @flow
    def training():
        with group("train", lead="master") as train:
            member("master", "sleep 1", setup="true")
            member("worker", "sleep 600", setup="sleep 1")
        with group("evaluate", after=[train]) as evaluate:
            member("score", "true")
        return train, evaluate

    train, evaluate = training()
    assert train.state is GroupState.SUCCEEDED and evaluate.state is GroupState.SUCCEEDED
    worker = train.report.members["worker"]
    assert (worker.state, worker.reason) == (MemberState.SUCCEEDED, "lead finished")
    # Stopped, not run to its end (600 s); the bound leaves room for a loaded machine.
    assert worker.finished_at - train.report.members["master"].finished_at < 120


def test_a_failed_group_makes_the_next_upstream_failed(prefect_server):
    from prefect import flow

    from groupplug.prefect import group, member

    @flow
    def pipeline():
        with group("train", raise_on_failure=False) as train:
            member("fit", "exit 3")
        with group("evaluate", after=[train], raise_on_failure=False) as evaluate:
            member("score", "true")
        return train, evaluate

    train, evaluate = pipeline()
    assert train.state is GroupState.FAILED
    assert evaluate.state is GroupState.UPSTREAM_FAILED
    assert evaluate.report.members["score"].reason == "upstream group train failed"


def test_misuse_is_reported_before_anything_runs(prefect_server):
    from prefect import flow

    from groupplug.prefect import group, member

    with pytest.raises(RuntimeError, match="use it inside a @flow"):
        with group("outside"):
            pass

    @flow
    def two_leads():
        with group("g"):
            member("a", "true", lead=True)
            member("b", "true", lead=True)

    with pytest.raises(GroupplugValueError, match="member.'b', lead=True.: group g already has "
                                                  "lead 'a'"):
        two_leads()
    with pytest.raises(RuntimeError, match="no report until its 'with' block ends"):
        group("later").report  # noqa: B018
