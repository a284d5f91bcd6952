"""The command line as a user meets it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "workflows"


def groupplug(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groupplug.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


@pytest.mark.parametrize("name", ["training", "nested_pipeline", "directives"])
def test_examples_validate(name):
    result = groupplug("validate", str(EXAMPLES / f"{name}.yaml"))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_show_prints_leads_barriers_and_aggregated_directives():
    result = groupplug("show", str(EXAMPLES / "training.yaml"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    train = next(line for line in lines if line.strip("├└─│ ").startswith("train "))
    assert "lead=master" in train and "barrier" in train
    assert "ngpu=3" in train, "three parallel members of 1 GPU each aggregate to 3"
    as_json = json.loads(groupplug("show", str(EXAMPLES / "training.yaml"), "--json").stdout)
    assert as_json["aggregated_directives"]["train"]["ngpu"] == 3


def test_show_gives_directives_their_units():
    result = groupplug("show", str(EXAMPLES / "directives.yaml"))
    assert result.returncode == 0, result.stderr
    ex = next(line for line in result.stdout.splitlines() if "── ex " in line)
    assert "memory=9GB walltime=1h" in ex, ex  # 8GB + 1GB in parallel, 1h: not memory=9
    analyze = next(line for line in result.stdout.splitlines() if "── analyze " in line)
    assert "walltime=30m" in analyze, analyze


def test_format_directive_reads_back_as_the_same_value():
    from groupplug.directives import format_directive, memory_gb, walltime_hours

    for gb in (0.5, 2.0, 9.0, 1536.0, 2048.0):
        assert memory_gb(format_directive("memory", gb)) == gb
    for hours in (0.5, 1.0, 1.5, 25.0, 2 + 1 / 3600):
        assert abs(walltime_hours(format_directive("walltime", hours)) - hours) < 1e-9
    assert format_directive("np", 4) == "4"


def test_bad_spec_exits_2_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "workflow:\n  name: w\n  groups:\n  - name: g\n    tasks:\n"
        "    - {name: a, lead: true, command: 'true'}\n"
        "    - {name: b, lead: true, command: 'true'}\n"
        "  - name: empty\n"
    )
    result = groupplug("validate", str(bad))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert any('has 2 leads (a, b)' in line for line in lines)
    assert any("needs at least one task" in line for line in lines)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content",
    [b"", b"workflow: [1, 2", b"\x00\x01\xff\xfe garbage", b"- just\n- a list\n"],
    ids=["empty", "syntax", "binary", "list"],
)
def test_unreadable_input_exits_2_without_traceback(tmp_path, content):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    for command in ("validate", "show", "run"):
        result = groupplug(command, str(bad))
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip()


def test_missing_file_and_unknown_engine_and_group_exit_2(tmp_path):
    missing = groupplug("validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert missing.stderr.count("nope.yaml") == 1, missing.stderr  # the file named once
    result = groupplug("run", str(EXAMPLES / "training.yaml"), "--engine", "nosuch")
    assert result.returncode == 2 and "nosuch" in result.stderr
    result = groupplug("run", str(EXAMPLES / "training.yaml"), "-g", "nosuch")
    assert result.returncode == 2 and "no such group" in result.stderr
    assert groupplug("frobnicate").returncode == 2


@pytest.mark.slow
def test_run_json_is_exactly_one_object_and_exit_code_follows_state(tmp_path):
    result = groupplug("run", str(EXAMPLES / "training.yaml"), "--json",
                       "--log-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["state"] == "succeeded" and report["engine"] == "local"
    train = report["groups"]["train"]
    assert train["lead"] == "master" and train["counts"] == {"succeeded": 3}
    assert train["members"]["worker-1"]["reason"] == "lead finished"
    failing = tmp_path / "fail.yaml"
    failing.write_text("workflow:\n  name: f\n  tasks:\n  - {name: boom, command: 'exit 3'}\n")
    failed = groupplug("run", str(failing), "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["groups"]["boom"]["members"]["boom"]["state"] == "failed"


@pytest.mark.slow
def test_run_selected_group_only(tmp_path):
    result = groupplug("run", str(EXAMPLES / "training.yaml"), "-g", "evaluate", "--json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert groups["evaluate"]["state"] == "succeeded"
    assert groups["train"]["state"] == "skipped" and groups["prepare"]["state"] == "skipped"
