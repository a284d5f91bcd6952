"""The barrier for Python members: ``setup=`` before it, ``arrive()`` from a body, released when
every unfinished member has arrived; in threads, forked processes and Dask worker processes.

Members write the instant they arrive and the instant they pass the barrier; the check is an
order (every pass after every arrival), not a duration.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from groupplug.states import GroupState

from .native_util import unfinished

pytestmark = pytest.mark.slow

SLACK = 0.05  # clock tolerance between processes of one machine


def _stamps(folder: Path, kind: str) -> list[float]:
    return [float(p.read_text()) for p in folder.glob(f"*.{kind}")]


def _stamp(path: Path) -> None:
    """Now, written whole or not at all: the lead's end may stop a member mid-write (an empty
    stamp failed the test once)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(repr(time.time()))
    tmp.rename(path)


def _released_together(folder: Path, members: int) -> None:
    arrived, passed = _stamps(folder, "arrived"), _stamps(folder, "passed")
    assert len(arrived) == len(passed) == members, (arrived, passed)
    assert min(passed) + SLACK >= max(arrived), "a member passed the barrier before the last " \
        "one arrived"


def test_setup_runs_before_the_barrier_in_threads(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import group

    def slow_setup() -> None:
        time.sleep(1.5)

    @task
    def worker() -> float:
        return time.time()

    @task
    def lead() -> float:
        time.sleep(0.5)
        return time.time()

    @flow
    def with_setup():
        with group("setup-threads", lead="lead", isolate="thread",
                   setup={"worker": slow_setup}) as g:
            worker.submit()
            lead.submit()
        return g

    g = with_setup()
    assert g.state is GroupState.SUCCEEDED
    members = g.report.members.values()
    last_setup = max(m.setup_finished_at for m in members)
    assert min(m.started_at for m in members) + SLACK >= last_setup
    assert unfinished("group:setup-threads") == []


def _arrive_flow(name: str, folder: str, dask: str | None = None, **group_options):
    from prefect import flow, task

    from groupplug.prefect import arrive, group

    @task
    def rank(i: int, delay: float) -> int:
        import time as clock
        from pathlib import Path as P

        clock.sleep(delay)  # e.g. loading data: each rank is ready at another time
        P(folder, f"{i}.arrived").write_text(repr(clock.time()))
        arrive()
        P(folder, f"{i}.passed").write_text(repr(clock.time()))
        return i

    @task
    def lead(delay: float) -> str:
        import time as clock
        from pathlib import Path as P

        clock.sleep(delay)
        P(folder, "lead.arrived").write_text(repr(clock.time()))
        arrive()
        P(folder, "lead.passed").write_text(repr(clock.time()))
        clock.sleep(0.5)
        return "done"

    @flow
    def arrive_in_body():
        options = dict(group_options)
        if dask is not None:  # made in the flow: Dask pickles the flow, not a started runner
            from prefect_dask import DaskTaskRunner

            options["task_runner"] = DaskTaskRunner(address=dask)
        with group(name, lead="lead", arrive_in_body=["rank", "lead"],
                   raise_on_failure=False, **options) as g:
            rank.map([0, 1], [0.2, 1.5])
            lead.submit(0.8)
        return g

    return arrive_in_body


def test_arrive_in_body_in_forked_processes(prefect_server, tmp_path):
    g = _arrive_flow("arrive-procs", str(tmp_path))()
    assert g.state is GroupState.SUCCEEDED, g.report
    _released_together(tmp_path, 3)
    assert unfinished("group:arrive-procs") == []


def test_arrive_in_body_in_threads(prefect_server, tmp_path):
    g = _arrive_flow("arrive-threads", str(tmp_path), isolate="thread")()
    assert g.state is GroupState.SUCCEEDED, g.report
    _released_together(tmp_path, 3)


def test_arrive_in_body_on_dask_processes(dask_cluster, tmp_path):
    g = _arrive_flow("arrive-dask", str(tmp_path), dask=dask_cluster.scheduler_address)()
    assert g.state is GroupState.SUCCEEDED, g.report
    _released_together(tmp_path, 3)
    assert unfinished("group:arrive-dask") == []


def test_arrive_from_a_member_that_already_arrived_is_an_error(prefect_server):
    from prefect import flow, task

    from groupplug.prefect import arrive, group

    @task
    def lead() -> None:
        arrive()

    @flow
    def misuse():
        with group("arrive-misuse", lead="lead"):
            lead()

    state = misuse(return_state=True)  # a direct call raises its task's exception, as in Prefect
    assert state.is_failed()
    with pytest.raises(RuntimeError, match=r"already arrived at the barrier before its body "
                                           r"started.*arrive_in_body=\['lead'\]"):
        state.result()


def test_barrier_holds_submitted_members_until_the_block_waits(prefect_server, tmp_path):
    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def worker(i: int) -> None:
        _stamp(tmp_path / f"{i}.passed")

    @task
    def lead() -> None:
        _stamp(tmp_path / "lead.passed")

    @flow
    def held():
        with group("held", lead="lead") as g:
            worker.submit(0)
            time.sleep(1.0)  # the first member is ready long before the second joins
            marker = time.time()
            worker.submit(1)
            lead()
        return g, marker

    g, marker = held()
    assert g.state is GroupState.SUCCEEDED
    assert min(_stamps(tmp_path, "passed")) >= marker  # worker 0 waited for the others
