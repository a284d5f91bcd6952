"""The conformance table on the local reference engine."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow
from groupplug.runner import LocalRunner

from .conformance import (
    BARRIER_UNDER_LOAD,
    INPUT_SCENARIOS,
    OSMO_SCENARIOS,
    SCENARIOS,
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


@pytest.mark.slow
def test_the_stack_variant_of_the_barrier_scenario(tmp_path):
    """The variant the stack suites run (the lead waits for its peers' starts) holds here too."""
    workflow = load_workflow(BARRIER_UNDER_LOAD.spec_yaml(str(tmp_path)))
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert BARRIER_UNDER_LOAD.check(report) == []
    assert (tmp_path / "w1.started").exists() and (tmp_path / "w2.started").exists()
