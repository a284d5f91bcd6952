"""``groupplug run --engine prefect``: same outcome as the local engine, no record lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from groupplug.loader import load_workflow
from groupplug.runner import LocalRunner

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"


# `groupplug -v run examples/workflows/training.yaml --engine prefect`, the README's command,
# is run through the CLI on a terminal by test_readme.py: exit 0, the story, and the tree the
# local engine leaves (every member's state and reason). `--json` through the CLI: the README's
# flow-file command, test_cli.py and test_cli_conformance.py.


@pytest.mark.parametrize("name", ["nested_pipeline", "directives"])
def test_examples_match_the_local_engine(name, prefect_server, tmp_path):
    from groupplug.prefect.runner import _run, check_records_final

    workflow = load_workflow(EXAMPLES / f"{name}.yaml")
    report = _run(workflow, [], {"server": "current"})
    assert report.outcome() == LocalRunner(workflow, log_dir=tmp_path).run().outcome()
    counts = check_records_final(report.run_id)
    assert sum(counts.values()) > len(workflow.group_paths())  # flow, subflows and tasks


def test_selected_group_runs_alone(prefect_server):
    from groupplug.prefect.runner import _run

    report = _run(load_workflow(EXAMPLES / "training.yaml"), ["evaluate"], {"server": "current"})
    assert report.groups["evaluate"].state.value == "succeeded"
    assert report.groups["train"].state.value == "skipped"


@pytest.mark.parametrize("name", ["training", "directives"])
def test_example_flows_run(name):
    """As a user runs them: ``python examples/flows/X.py`` starts its own server. The other
    examples run in-process in test_examples.py."""
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "flows" / f"{name}.py")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
