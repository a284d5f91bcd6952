"""The conformance table on the local reference engine."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow
from groupplug.runner import LocalRunner

from .conformance import SCENARIOS


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario, tmp_path):
    workflow = load_workflow(scenario.spec_yaml(str(tmp_path)))
    report = LocalRunner(workflow, log_dir=tmp_path / "logs").run()
    assert scenario.check(report) == []
