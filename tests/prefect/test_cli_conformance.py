"""The conformance table through ``groupplug run ... --engine prefect --json`` (the CLI's
``main``, in this process): YAML with shell members, and a flow file with ``@task`` members.

The run goes to the session's server through ``GROUPPLUG_PREFECT_API_URL`` (one server for the
table; the embedded server's start, drain and stop are tested process by process in
test_cli.py). Each run's wall time is printed next to the local engine's (no timing assert).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from groupplug.cli import main
from groupplug.loader import load_workflow
from groupplug.report import RunReport
from groupplug.runner import LocalRunner
from tests.core.conformance import SCENARIOS

pytestmark = pytest.mark.slow
FLOW_FILE = Path(__file__).resolve().parent / "flows" / "conformance_flow.py"


def cli(args: list[str], capsys) -> tuple[int, RunReport, float]:
    began = time.monotonic()
    code = main(args)
    took = time.monotonic() - began
    out = capsys.readouterr().out
    return code, RunReport.from_json(json.loads(out)), took


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_yaml_through_the_cli(scenario, tmp_path, prefect_server, monkeypatch,
                                       capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(scenario.spec_yaml(str(tmp_path)))
    monkeypatch.setenv("GROUPPLUG_PREFECT_API_URL", prefect_server.api_url)
    code, report, took = cli(["run", str(spec), "--engine", "prefect", "--json"], capsys)
    assert scenario.check(report) == [], report.to_json()
    assert code == (0 if scenario.state == "succeeded" else 1)
    began = time.monotonic()
    LocalRunner(load_workflow(spec), log_dir=tmp_path / "logs").run()
    print(f"{scenario.id}: prefect via CLI {took:.1f}s, local {time.monotonic() - began:.1f}s")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_flow_file_through_the_cli(scenario, tmp_path, prefect_server, monkeypatch,
                                            capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(scenario.spec_yaml(str(tmp_path)))
    monkeypatch.setenv("GROUPPLUG_PREFECT_API_URL", prefect_server.api_url)
    monkeypatch.setenv("GROUPPLUG_TEST_SCENARIO", str(spec))
    code, report, _ = cli(["run", f"{FLOW_FILE}:table", "--engine", "prefect", "--json"],
                          capsys)
    assert scenario.check(report) == [], report.to_json()
    assert code == (0 if scenario.state == "succeeded" else 1)
