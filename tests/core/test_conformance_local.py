"""The conformance table on the local reference engine."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow
from groupplug.runner import LocalRunner

from .conformance import (
    BARRIER_UNDER_LOAD,
    INPUT_SCENARIOS,
    NO_BARRIER_UNDER_LOAD,
    NONLEAD_FAILS_UNDER_LOAD,
    OSMO_SCENARIOS,
    SCENARIOS,
    TIMEOUT_UNDER_LOAD,
    with_python_members,
)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, tmp_path):
    workflow = load_workflow(scenario.spec_yaml(str(tmp_path)))
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert scenario.check(report) == []


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_with_python_members(scenario, tmp_path):
    workflow = with_python_members(load_workflow(scenario.spec_yaml(str(tmp_path))))
    assert all(t.command is None and t.fn is not None for _, g in workflow.walk() for t in g.tasks)
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert scenario.check(report) == []


INPUTS = INPUT_SCENARIOS + OSMO_SCENARIOS


@pytest.mark.slow
@pytest.mark.parametrize("scenario", INPUTS, ids=[s.id for s in INPUTS])
def test_input_scenario(scenario, tmp_path):
    workflow = load_workflow(scenario.spec_yaml(str(tmp_path)))
    if scenario.id.endswith("-osmo"):
        assert workflow.osmo_inputs, "the variant is written in OSMO's form"
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert scenario.check(report) == []


VARIANTS = [BARRIER_UNDER_LOAD, NO_BARRIER_UNDER_LOAD, TIMEOUT_UNDER_LOAD, NONLEAD_FAILS_UNDER_LOAD]


@pytest.mark.slow
@pytest.mark.parametrize("python", [False, True], ids=["shell", "python"])
@pytest.mark.parametrize("scenario", VARIANTS, ids=[s.id for s in VARIANTS])
def test_the_stack_variants_hold_here_too(scenario, python, tmp_path):
    """The variants the stack suites run (members wait on each other's marker files) hold on
    the reference engine too, with shell and with Python members."""
    workflow = load_workflow(scenario.spec_yaml(str(tmp_path)))
    if python:
        workflow = with_python_members(workflow)
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert scenario.check(report) == []
    assert list(tmp_path.glob("*.started")) or list(tmp_path.glob("*.ran")), \
        "the variant's members did not write their markers"
