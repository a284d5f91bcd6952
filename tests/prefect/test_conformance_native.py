"""The conformance table with ordinary ``@task`` members, next to the shell one.

Each scenario's workflow becomes a flow of ``with group(...)`` blocks whose members are
``@task`` functions doing in Python what the shell commands do (``time.sleep``, raising for a
non-zero exit: :func:`tests.core.conformance.python_source`); setups are the group's
``setup=`` callables, retries the tasks' own ``retries``, upstream groups ``after=``. The
report the blocks give is checked against the same expectations as every other engine.
"""

from __future__ import annotations

from typing import Any

import pytest

from groupplug.loader import load_workflow
from groupplug.report import RunReport
from groupplug.spec import Group, Workflow
from tests.core.conformance import SCENARIOS, PythonStep

pytestmark = pytest.mark.slow


def _step(command: str) -> Any:
    step = PythonStep(command)

    def body() -> str:  # a function (Prefect keys tasks by their code), running the step
        return step()

    return body


def _open(g: Group, blocks: dict[str, Any]) -> Any:
    from prefect import task

    from groupplug.prefect import group

    after = [blocks[u] for u in g.upstream if u in blocks]
    with group(g.name, lead=g.lead.name if g.lead else None, barrier=g.barrier,
               barrier_timeout=g.barrier_timeout, ignore_nonlead_status=g.ignore_nonlead_status,
               setup={t.name: _step(t.setup) for t in g.tasks if t.setup}, after=after,
               raise_on_failure=False) as block:
        for t in g.tasks:
            body = _step(t.command or "true")
            body.__name__ = t.name
            task(name=t.name, retries=t.retries, retry_delay_seconds=t.retry_delay)(body).submit()
        for child in g.children:
            _open(child, blocks)
    blocks[g.name] = block
    return block


def run_native(workflow: Workflow, task_runner: Any = None) -> RunReport:
    from prefect import flow

    runner = {"task_runner": task_runner} if task_runner is not None else {}

    @flow(name="conformance-native", **runner)
    def table() -> dict[str, Any]:
        blocks: dict[str, Any] = {}
        reports: dict[str, Any] = {}
        for g in workflow.groups:
            reports.update(_open(g, blocks).reports)
        return reports

    report = RunReport(workflow.name, "prefect")
    report.groups = table()
    return report


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_with_task_members(scenario, tmp_path, prefect_server):
    report = run_native(load_workflow(scenario.spec_yaml(str(tmp_path))))
    assert scenario.check(report) == [], report.to_json()


DRIVER_SCENARIOS = [s for s in SCENARIOS if s.id in (
    "lead-fails-stops-others", "barrier-releases-together", "lead-retry-restarts-others",
    "nonlead-fails-strict")]


@pytest.mark.parametrize("scenario", DRIVER_SCENARIOS, ids=[s.id for s in DRIVER_SCENARIOS])
def test_scenario_with_fn_members_through_the_workflow_driver(scenario, tmp_path,
                                                               prefect_server):
    """``task(name, fn=...)`` members of a core spec (the Python front door) on Prefect."""
    from groupplug.prefect.runner import _run
    from tests.core.conformance import with_python_members

    workflow = with_python_members(load_workflow(scenario.spec_yaml(str(tmp_path))))
    report = _run(workflow, [], {"server": "current"})
    assert scenario.check(report) == [], report.to_json()
