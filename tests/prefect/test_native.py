"""Ordinary ``@task`` calls inside ``with group(...)`` are its members, on a real Prefect server.

Each call style (direct, submit, map, async awaited and gathered, decorator), the group as a
flow run of its own, tags, member keys in call order, errors for a bad ``lead=``, and failures
that must reach the parent flow.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from groupplug import GroupplugValueError
from groupplug.states import GroupState, MemberState

from .native_util import runs_tagged, task_states, unfinished

pytestmark = pytest.mark.slow


@pytest.mark.compat
def test_direct_calls_return_results_at_once_and_are_members(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def prep() -> int:
        return 2

    @task
    def fit(x: int) -> int:
        return x * 10

    @flow
    def pipeline():
        with group("direct-calls", lead="fit") as g:
            x = prep()
            y = fit(x)
            assert y == 20  # usable inside the block, as in Flyte's groups
        return y, g

    y, g = pipeline()
    assert y == 20
    assert g.state is GroupState.SUCCEEDED
    assert {n: m.state for n, m in g.report.members.items()} == {
        "prep": MemberState.SUCCEEDED, "fit": MemberState.SUCCEEDED}
    flows, tasks = runs_tagged("group:direct-calls")
    assert [f.name for f in flows] == ["direct-calls"]  # the group is a run of its own
    assert flows[0].parent_task_run_id is not None  # ... nested under the flow like a subflow
    assert sorted(t.name for t in tasks) == ["direct-calls.fit", "direct-calls.prep"]
    assert all(t.flow_run_id == flows[0].id and "groupplug" in t.tags for t in tasks)
    assert unfinished("group:direct-calls") == []


@pytest.mark.compat
def test_submitted_and_mapped_runs_are_members_keyed_in_call_order(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def shard(i: int) -> int:
        return i * i

    @task
    def merge(parts: list[int]) -> int:
        return sum(parts)

    @flow
    def fan_out():
        with group("fan-out", lead="merge", barrier=False) as g:
            first = shard.submit(1)
            rest = shard.map([2, 3])
            total = merge([first.result(), *rest.result()])
        return total, g

    total, g = fan_out()
    assert total == 1 + 4 + 9
    assert list(g.report.members) == ["shard[0]", "shard[1]", "shard[2]", "merge"]
    assert all(m.state is MemberState.SUCCEEDED for m in g.report.members.values())
    assert unfinished("group:fan-out") == []


def test_tasks_outside_the_block_and_in_member_bodies_are_not_members(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def helper() -> int:
        return 1

    @task
    def lead() -> int:
        return helper() + 1  # called inside a member: part of that member, not the group

    @flow
    def mixed():
        before = helper()
        with group("inside-outside", lead="lead", isolate="thread") as g:
            value = lead()
        return before, value, g

    before, value, g = mixed()
    assert (before, value) == (1, 2)
    assert list(g.report.members) == ["lead"]
    assert set(task_states("group:inside-outside")) == {"inside-outside.lead"}


@pytest.mark.compat
def test_async_tasks_awaited_and_gathered(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    async def load(i: int) -> int:
        await asyncio.sleep(0.1)
        return i

    @task
    async def watch() -> None:
        await asyncio.sleep(300)  # cancelled when the lead ends

    @task
    async def train(parts: list[int]) -> int:
        await asyncio.sleep(0.5)
        return sum(parts)

    @flow
    async def run_async():
        async with group("async-group", lead="train", barrier=False) as g:
            watcher = watch.submit()
            parts = await asyncio.gather(load(1), load(2))
            result = await train(parts)
        return result, watcher, g

    started = time.monotonic()
    result, watcher, g = asyncio.run(run_async())
    assert result == 3
    assert time.monotonic() - started < 120
    assert g.report.members["watch"].reason == "lead finished"
    assert task_states("group:async-group")["async-group.watch"] == ("COMPLETED", "lead finished")
    assert list(g.report.members) == ["watch", "load[0]", "load[1]", "train"]
    assert unfinished("group:async-group") == []


def test_decorator_makes_a_flow_a_group(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def fit() -> str:
        return "model"

    @flow
    @group("decorated", lead="fit")
    def training() -> str:
        return fit()

    assert training() == "model"
    assert [t.name for t in runs_tagged("group:decorated")[1]] == ["decorated.fit"]


@pytest.mark.compat
def test_nested_groups_nest_their_runs(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def step(x: int) -> int:
        return x + 1

    @flow
    def pipeline():
        with group("outer-nest") as outer:
            with group("inner-nest") as inner:
                y = step(1)
            z = step(y)
        return z, outer, inner

    z, outer, inner = pipeline()
    assert z == 3
    assert set(outer.reports) == {"outer-nest", "outer-nest.inner-nest"}
    outer_run = runs_tagged("group:outer-nest")[0][0]
    inner_run = runs_tagged("group:outer-nest.inner-nest")[0][0]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        tracking = client.read_task_run(inner_run.parent_task_run_id)
    assert tracking.flow_run_id == outer_run.id  # the inner group's run sits in the outer's


def test_lead_naming_no_member_is_an_error_in_python_terms(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def worker() -> None:
        pass

    @flow
    def wrong_lead():
        with group("wrong-lead", lead="master"):
            worker.submit()
            worker.submit()

    with pytest.raises(GroupplugValueError) as error:
        wrong_lead()
    message = str(error.value)
    assert "no task named 'master' ran in the block" in message
    assert "worker[0], worker[1]" in message and "lead=" in message
    assert "tasks:" not in message  # no YAML words
    assert unfinished("group:wrong-lead") == []


def test_a_block_that_runs_no_task_is_an_error(prefect_server):
    from prefect import flow

    from groupplug.prefect import group

    @flow
    def empty():
        with group("empty-block"):
            pass

    with pytest.raises(GroupplugValueError, match=r"group\('empty-block'\): no task ran in its "
                                                  r"block; call a @task"):
        empty()


def test_lead_called_twice_and_no_lead_are_errors(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def fit() -> None:
        pass

    @task
    def prep() -> None:
        pass

    @flow
    def twice():
        with group("lead-twice", lead="fit"):
            fit()
            fit()

    @flow
    def leaderless():
        with group("no-lead"):
            prep()
            fit()

    with pytest.raises(GroupplugValueError, match="the lead 'fit' runs more than once"):
        twice()
    with pytest.raises(GroupplugValueError, match=r"several members \(prep, fit\) and no lead; "
                                                  r".*group\('no-lead', lead='fit'\)"):
        leaderless()
    assert unfinished("group:lead-twice") == [] and unfinished("group:no-lead") == []


def test_member_fn_runs_the_callable_and_its_failure_fails_the_flow(prefect_server):
    from prefect import flow

    from groupplug.prefect import GroupFailed, group, member

    def train() -> int:
        return 7

    def broken() -> None:
        raise ValueError("bad data")

    @flow
    def works():
        with group("fn-member") as g:
            future = member("train", fn=train)
        return future.result(), g

    value, g = works()
    assert value == 7 and g.state is GroupState.SUCCEEDED

    @flow
    def fails():
        with group("fn-failure"):
            member("train", fn=broken)
        return "not reached"

    state = fails(return_state=True)
    assert state.is_failed()  # the group's failure is never swallowed
    with pytest.raises(GroupFailed, match="group fn-failure failed .*ValueError: bad data"):
        state.result()
    assert task_states("group:fn-failure")["fn-failure.train"][0] == "FAILED"
    flows, _ = runs_tagged("group:fn-failure")
    assert flows[0].state.is_failed()


def test_member_tags_off_leaves_only_the_group_run_tagged(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def fit() -> int:
        return 1

    @flow
    def untagged():
        with group("untagged-members", lead="fit", member_tags=False) as g:
            fit()
        return g

    g = untagged()
    assert g.state is GroupState.SUCCEEDED
    flows, tasks = runs_tagged("group:untagged-members")
    assert [f.name for f in flows] == ["untagged-members"] and tasks == []
