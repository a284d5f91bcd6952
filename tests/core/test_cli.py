"""The command line as a user meets it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import json
import shutil
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
    run_missing = groupplug("run", str(tmp_path / "nope.yaml"))
    assert run_missing.returncode == 2
    assert run_missing.stderr.strip().splitlines() == [  # no engine log for a run never begun
        f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"]
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


QUICK = "workflow:\n  name: q\n  tasks:\n  - {name: hi, command: 'echo hi'}\n"
FAILING = ("workflow:\n  name: f\n  groups:\n  - name: g\n    ignoreNonleadStatus: false\n"
           "    tasks:\n    - {name: lead, lead: true, command: 'sleep 30'}\n"
           "    - {name: boom, command: 'echo oops; exit 3'}\n")


def said(stderr: str, what: str) -> list[str]:
    """The paths groupplug names on stderr as ``groupplug: <what>: PATH ...``."""
    prefix = f"groupplug: {what}: "
    return [line[len(prefix):].split(" ")[0] for line in stderr.splitlines()
            if line.startswith(prefix)]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_subcommand_tells_the_story(tmp_path, where):
    spec = tmp_path / "q.yaml"
    spec.write_text(QUICK)
    args = ["-v", "run", str(spec)] if where == "before" else ["run", str(spec), "-v"]
    result = groupplug(*args)
    assert result.returncode == 0, result.stderr
    story = [line[9:] for line in result.stderr.splitlines() if line[:2].isdigit()]
    assert story == ["group hi finished: succeeded"], result.stderr
    quiet = groupplug("run", str(spec))
    assert quiet.returncode == 0 and not [x for x in quiet.stderr.splitlines() if x[:2].isdigit()]
    assert groupplug("validate", str(spec), "-v").returncode == 0


def test_run_directory_removed_unless_kept_or_a_member_failed(tmp_path):
    spec, failing = tmp_path / "q.yaml", tmp_path / "f.yaml"
    spec.write_text(QUICK)
    failing.write_text(FAILING)
    plain = groupplug("run", str(spec))
    assert plain.returncode == 0 and not said(plain.stderr, "member logs"), plain.stderr
    [log] = said(plain.stderr, "engine logs")
    assert "member logs in /tmp/groupplug-run-" in Path(log).read_text()  # the runner's word
    gone = Path(Path(log).read_text().split("member logs in ")[1].split()[0])
    assert gone.name.startswith("groupplug-run-") and not gone.exists()
    kept = groupplug("run", str(spec), "--keep")
    [folder] = said(kept.stderr, "member logs")
    assert (Path(folder) / "hi.hi.log").read_text().endswith("hi\n")
    shutil.rmtree(folder)
    failed = groupplug("run", str(failing), "--json")
    assert failed.returncode == 1 and json.loads(failed.stdout)["state"] == "failed"
    assert "(g.boom failed)" in failed.stderr, failed.stderr  # who failed, not whom it stopped
    [folder] = said(failed.stderr, "member logs")
    assert "oops" in (Path(folder) / "g.boom.log").read_text()
    shutil.rmtree(folder)


def test_json_on_a_terminal_is_one_object_with_the_tree_on_stderr(tmp_path):
    from tests.core.terminal import run_on_terminal

    failing = tmp_path / "f.yaml"
    failing.write_text(FAILING)
    run = run_on_terminal([sys.executable, "-m", "groupplug.cli", "run", str(failing), "--json",
                           "-v"], cwd=str(ROOT), stdout_pipe=True, timeout=120)
    assert run.returncode == 1
    assert json.loads(run.stdout)["groups"]["g"]["state"] == "failed"  # one object, no tree
    screen = [line[9:] if line[:2].isdigit() else line for line in run.screen]
    assert screen[:4] == ["group g: barrier released for lead, boom",
                          "g.boom failed: command failed (exit 3)",
                          "g.lead stopped as failed: task boom failed",
                          "group g finished: failed"], run.screen
    assert not any(line.startswith("f [local]") for line in screen)  # live tree gone at the end
    shutil.rmtree(said("\n".join(run.screen), "member logs")[0])
