"""The lead's end stops every member still running, wherever and however it runs.

Each member records where it runs (its process id) or how far it got (a file), so a test sees
that the work was really stopped, not only reported stopped. Every member here would run for
300 s if it were not stopped; the bound on the whole flow only tells "stopped" from "ran out".
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from groupplug.states import GroupState, MemberState

from .native_util import task_states, unfinished

pytestmark = pytest.mark.slow

LONG = 300


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _pids(folder: Path) -> list[int]:
    """The pids written so far (a file being written reads empty for a moment)."""
    return [int(text) for p in folder.glob("*.pid") if (text := p.read_text().strip())]


def test_sync_members_blocked_in_c_and_busy_are_stopped(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def sleeper(i: int) -> None:
        (tmp_path / f"sleep{i}.pid").write_text(str(os.getpid()))
        time.sleep(LONG)  # a C call: no exception can reach it in a thread
        (tmp_path / f"sleep{i}.done").touch()

    @task
    def spinner() -> None:
        (tmp_path / "spin.pid").write_text(str(os.getpid()))
        deadline = time.monotonic() + LONG
        while time.monotonic() < deadline:
            pass
        (tmp_path / "spin.done").touch()

    @task
    def lead() -> str:
        while len(_pids(tmp_path)) < 4:  # every member is running before the lead ends
            time.sleep(0.05)
        return "done"

    @flow
    def stop_sync():
        with group("stop-sync", lead="lead", barrier=False) as g:
            sleeper.submit(0)
            sleeper.map([1, 2])
            spinner.submit()
            lead()
        return g

    started = time.monotonic()
    g = stop_sync()
    assert time.monotonic() - started < LONG / 3
    assert g.state is GroupState.SUCCEEDED
    for name in ("sleeper[0]", "sleeper[1]", "sleeper[2]", "spinner"):
        member = g.report.members[name]
        assert (member.state, member.reason) == (MemberState.SUCCEEDED, "lead finished"), name
    assert all(_gone(pid) for pid in _pids(tmp_path))  # their processes are gone
    assert not list(tmp_path.glob("*.done"))
    states = task_states("group:stop-sync")
    assert states["stop-sync.spinner"] == ("COMPLETED", "lead finished")
    assert states["stop-sync.sleeper[2]"] == ("COMPLETED", "lead finished")
    assert unfinished("group:stop-sync") == []


def test_thread_members_are_interrupted(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    ticks = tmp_path / "ticks"

    @task
    def spinner() -> None:
        while True:  # Python bytecode: Prefect's injected exception interrupts it
            ticks.write_text(str(time.monotonic()))
            time.sleep(0.01)

    @task
    def lead() -> None:
        while not ticks.exists():
            time.sleep(0.05)

    @flow
    def stop_thread():
        with group("stop-thread", lead="lead", barrier=False, isolate="thread") as g:
            spinner.submit()
            lead()
        return g

    g = stop_thread()
    assert g.report.members["spinner"].reason == "lead finished"
    last = ticks.read_text()
    time.sleep(0.5)
    assert ticks.read_text() == last  # the loop no longer runs
    assert unfinished("group:stop-thread") == []


def test_async_members_are_cancelled(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    async def waiter(i: int) -> None:
        try:
            await asyncio.sleep(LONG)
        except asyncio.CancelledError:
            (tmp_path / f"cancelled{i}").touch()
            raise

    @task
    async def lead() -> None:
        await asyncio.sleep(1)

    @flow
    async def stop_async():
        async with group("stop-async", lead="lead", barrier=False) as g:
            await asyncio.gather(waiter(0), waiter(1), lead())
        return g

    g = asyncio.run(stop_async())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cancelled0", "cancelled1"]
    assert g.report.members["waiter[1]"].reason == "lead finished"
    assert task_states("group:stop-async")["stop-async.waiter[0]"] == ("COMPLETED",
                                                                        "lead finished")
    assert unfinished("group:stop-async") == []


def test_a_failed_lead_fails_the_others_and_the_flow(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import GroupFailed, group

    @task
    def worker() -> None:
        (tmp_path / "worker.pid").write_text(str(os.getpid()))
        time.sleep(LONG)

    @task
    def lead() -> None:
        while not _pids(tmp_path):
            time.sleep(0.05)
        raise RuntimeError("diverged")

    @flow
    def failing():
        with group("lead-fails", lead="lead", barrier=False):
            worker.submit()
            lead.submit()

    state = failing(return_state=True)
    assert state.is_failed()
    with pytest.raises(GroupFailed, match="group lead-fails failed"):
        state.result()
    states = task_states("group:lead-fails")
    assert states["lead-fails.worker"] == ("FAILED", "lead finished")
    assert states["lead-fails.lead"][0] == "FAILED" and "diverged" in states["lead-fails.lead"][1]
    assert all(_gone(pid) for pid in _pids(tmp_path))
    assert unfinished("group:lead-fails") == []


def test_strict_group_stops_everyone_when_a_member_fails(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def long(i: int) -> None:
        (tmp_path / f"long{i}.pid").write_text(str(os.getpid()))
        time.sleep(LONG)

    @task
    def flaky() -> None:
        while len(_pids(tmp_path)) < 2:
            time.sleep(0.05)
        raise ValueError("bad shard")

    @flow
    def strict():
        with group("strict", lead="long", barrier=False, ignore_nonlead_status=False,
                   raise_on_failure=False) as g:
            long.submit(0)
            flaky.submit()
            other = long.with_options(name="other")
            other.submit(1)
        return g

    g = strict()
    assert g.state is GroupState.FAILED
    assert g.report.members["long"].reason == "task flaky failed"
    assert g.report.members["other"].state is MemberState.FAILED
    assert all(_gone(pid) for pid in _pids(tmp_path))
    assert unfinished("group:strict") == []


def test_members_not_started_when_the_lead_ended_never_start(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def lead() -> int:
        return 1

    @task
    def late() -> None:
        (tmp_path / "late-ran").touch()

    @flow
    def after_lead():
        with group("late-members", lead="lead") as g:
            lead()
            late.submit()
        return g

    g = after_lead()
    assert g.report.members["late"].state is MemberState.SUCCEEDED
    assert g.report.members["late"].reason == "lead finished"
    assert not (tmp_path / "late-ran").exists()
    assert task_states("group:late-members")["late-members.late"] == ("COMPLETED",
                                                                      "lead finished")
    assert unfinished("group:late-members") == []


def test_dask_process_members_are_stopped(dask_cluster, tmp_path):
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    from groupplug.prefect import group

    folder = str(tmp_path)
    address = dask_cluster.scheduler_address  # the flow pickles (Dask): no cluster object in it

    @task
    def sleeper(i: int) -> None:
        from pathlib import Path

        Path(folder, f"dask{i}.pid").write_text(str(__import__("os").getpid()))
        __import__("time").sleep(LONG)

    @task
    def lead() -> None:
        from pathlib import Path

        while len(list(Path(folder).glob("*.pid"))) < 2:
            __import__("time").sleep(0.1)

    @flow
    def on_dask():
        runner = DaskTaskRunner(address=address)
        with group("stop-dask", lead="lead", barrier=False, task_runner=runner) as g:
            sleeper.map([0, 1])
            lead.submit()
        return g

    g = on_dask()
    assert g.state is GroupState.SUCCEEDED
    assert g.report.members["sleeper[0]"].reason == "lead finished"
    assert all(_gone(pid) for pid in _pids(tmp_path))
    assert unfinished("group:stop-dask") == []
