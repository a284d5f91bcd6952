"""groupplug.launch: what a member step executes, and OSMO's fields on the local engine."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest

from groupplug.launch import Launch, LaunchError, engine_run_dir, popen, prepare
from groupplug.runner import LocalRunner
from groupplug.service_procs import alive
from groupplug.spec import FrozenDict, Group, Task, TaskFile, Workflow

from . import osmo_fields


def _run(launch: Launch) -> str:
    proc = popen(launch, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    return out


def test_a_shell_string_runs_with_sh_and_an_argument_vector_without(tmp_path):
    shell = prepare(Task("s", command="echo $((1 + 2))"), run_dir=tmp_path, cwd=tmp_path)
    assert shell.argv == ("sh", "-c", "echo $((1 + 2))")
    assert _run(shell) == "3\n"
    vector = prepare(Task("v", argv=("printf", "%s|"), args=("a b", "$HOME", "x;y")),
                     run_dir=tmp_path, cwd=tmp_path)
    assert vector.argv == ("printf", "%s|", "a b", "$HOME", "x;y")
    assert _run(vector) == "a b|$HOME|x;y|"


def test_tokens_resolve_to_output_directories_of_the_run(tmp_path):
    (tmp_path / "outputs" / "a").mkdir(parents=True)
    task = Task("b", inputs=("a",), argv=("cp", "{{input:0}}/x"), args=("{{ output }}/y",),
                environment=FrozenDict({"OUT": "{{output}}", "N": 3}), setup="ls {{input:0}}")
    launch = prepare(task, run_dir=tmp_path, cwd=tmp_path)
    out, inp = tmp_path / "outputs" / "b", tmp_path / "outputs" / "a"
    assert out.is_dir()
    assert launch.argv == ("cp", f"{inp}/x", f"{out}/y")
    assert launch.env["OUT"] == str(out) and launch.env["N"] == "3"
    assert launch.env["PATH"]  # added to the environment, not replacing it
    assert prepare(task, run_dir=tmp_path, step="setup", cwd=tmp_path).argv[2] == f"ls {inp}"


@pytest.mark.parametrize(("task", "words"), [
    (Task("t", command="echo {{workflow_id}}"), ["'t'", "command", "{{workflow_id}}"]),
    (Task("t", argv=("x",), args=("{{input:1}}",), inputs=("a",)),
     ["'t'", "args[0]", "{{input:1}}", "1 input (a)"]),
    (Task("t", command="true", environment=FrozenDict({"K": "{{host}}"})),
     ["environment.K", "{{host}}"]),
    (Task("t", command="true", files=(TaskFile("f", "{{secret:x}}"),)),
     ["files[0].contents", "{{secret:x}}"]),
])
def test_a_token_groupplug_does_not_resolve_is_refused_with_task_and_field(tmp_path, task, words):
    with pytest.raises(LaunchError) as caught:
        prepare(task, run_dir=tmp_path, cwd=tmp_path)
    for word in words:
        assert word in str(caught.value)


def test_an_input_whose_directory_is_missing_fails_naming_the_task_and_path(tmp_path):
    task = Task("b", inputs=("a",), command="cat {{input:0}}/x")
    with pytest.raises(LaunchError) as caught:
        prepare(task, run_dir=tmp_path, cwd=tmp_path)
    message = str(caught.value)
    assert "'a'" in message and str(tmp_path / "outputs" / "a") in message
    assert "GROUPPLUG_DATA_DIR" in message


def test_files_are_written_relative_to_the_working_directory_before_the_step(tmp_path, caplog):
    work = tmp_path / "work"
    work.mkdir()
    task = Task("t", command="sh sub/run.sh", files=(
        TaskFile("sub/run.sh", "echo {{output}}"), TaskFile(str(tmp_path / "abs.txt"), "a")))
    launch = prepare(task, run_dir=tmp_path, cwd=work)
    # A relative file: the task runs in its own directory, told where the run started.
    own = tmp_path / "work" / "t"
    assert launch.cwd == str(own) and launch.env["GROUPPLUG_START_DIR"] == str(work)
    assert (own / "sub" / "run.sh").read_text() == f"echo {tmp_path / 'outputs' / 't'}"
    assert not (work / "sub").exists()
    assert (tmp_path / "abs.txt").read_text() == "a"
    assert _run(launch) == f"{tmp_path / 'outputs' / 't'}\n"
    (tmp_path / "abs.txt").write_text("changed by someone")
    with caplog.at_level(logging.WARNING, logger="groupplug.run"):
        prepare(task, run_dir=tmp_path, cwd=work)  # same contents: no line; changed: one
    replaced = [r.getMessage() for r in caplog.records if "replacing" in r.getMessage()]
    assert replaced == [f"task t: files[1]: replacing {tmp_path / 'abs.txt'} (its contents "
                        "differed)"]
    assert (tmp_path / "abs.txt").read_text() == "a"


def test_a_relative_file_may_not_leave_the_working_directory(tmp_path):
    (tmp_path / "work").mkdir()
    task = Task("t", command="true", files=(TaskFile("../escape", "x"),))
    with pytest.raises(LaunchError, match="leaves the working directory.*absolute path"):
        prepare(task, run_dir=tmp_path, cwd=tmp_path / "work")
    assert not (tmp_path / "escape").exists()


def test_image_warns_once_per_run_and_image(tmp_path, caplog):
    a = Task("a", command="true", image="img:1")
    b = Task("b", command="true", image="img:1")
    c = Task("c", command="true", image="img:2")
    with caplog.at_level(logging.WARNING, logger="groupplug.run"):
        for task in (a, b, c, a):
            prepare(task, run_dir=tmp_path / "run1", cwd=tmp_path)
        prepare(a, run_dir=tmp_path / "run2", cwd=tmp_path)
    lines = [r.getMessage() for r in caplog.records if r.name == "groupplug.run"]
    assert lines == [
        "image img:1 was not used: groupplug runs commands on this host (task a names it)",
        "image img:2 was not used: groupplug runs commands on this host (task c names it)",
        "image img:1 was not used: groupplug runs commands on this host (task a names it)"]


def test_a_program_that_does_not_exist_is_a_launch_error(tmp_path):
    launch = prepare(Task("t", argv=("no-such-program-groupplug",)), run_dir=tmp_path)
    with pytest.raises(LaunchError, match="no-such-program-groupplug"):
        popen(launch)


def test_engine_run_dirs_live_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GROUPPLUG_DATA_DIR", str(tmp_path))
    path = engine_run_dir("airflow", "dag", "manual__2026-01-01T00:00:00+00:00")
    assert path == tmp_path / "airflow" / "dag" / "manual__2026-01-01T00_00_00_00_00"


def test_a_task_with_osmo_fields_pickles(tmp_path):
    task = osmo_fields.tasks()[2]
    assert pickle.loads(pickle.dumps(task)) == task


# ------------------------------------------------------------------------ the local engine
def test_local_engine_runs_every_osmo_field(tmp_path, monkeypatch, caplog):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with caplog.at_level(logging.WARNING, logger="groupplug.run"):
        report = LocalRunner(osmo_fields.workflow(), log_dir=tmp_path / "run").run()
    assert report.state == "succeeded", report.to_json()
    osmo_fields.check_outputs(tmp_path / "run" / "outputs", work)
    assert len(osmo_fields.image_warnings([r.getMessage() for r in caplog.records])) == 1


def test_local_member_fails_when_its_input_did_not_run_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = LocalRunner(osmo_fields.workflow(), selected=["read"],
                         log_dir=tmp_path / "run").run()
    read = report.groups["read"].members["read"]
    assert read.state.value == "failed"
    assert "'write'" in read.reason and str(tmp_path / "run" / "outputs" / "write") in read.reason


def test_local_argv_member_that_cannot_start_fails_with_the_reason(tmp_path):
    workflow = Workflow("w", (Group("g", tasks=(Task("t", argv=("no-such-program-gp",)),)),))
    report = LocalRunner(workflow, log_dir=tmp_path).run()
    member = report.groups["g"].members["t"]
    assert member.state.value == "failed" and "no-such-program-gp" in member.reason


def test_a_working_directory_missing_here_is_a_launch_error(tmp_path):
    with pytest.raises(LaunchError, match="working directory .*gone does not exist here"):
        prepare(Task("t", command="true"), run_dir=tmp_path, cwd=tmp_path / "gone")


@pytest.mark.parametrize("path", osmo_fields.EXAMPLES, ids=lambda p: p.stem)
def test_osmo_examples_run_on_the_local_engine(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    osmo_fields.local_outcome(path, tmp_path / "run")
    assert osmo_fields.EXAMPLES and (tmp_path / "run" / "outputs").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no file left where it started


def test_outputs_are_said_not_uploaded_once_per_run_and_task(tmp_path, caplog):
    # OSMO uploads a task's outputs; groupplug does not, and says so instead of dropping them.
    outputs = (FrozenDict({"dataset": FrozenDict({"name": "model"})}),
               FrozenDict({"url": "s3://bucket/x"}))
    task = Task("train", command="true", outputs=outputs)
    with caplog.at_level(logging.WARNING, logger="groupplug.run"):
        for _ in range(2):
            prepare(task, run_dir=tmp_path / "run", cwd=tmp_path)
    lines = [r.getMessage() for r in caplog.records if r.name == "groupplug.run"]
    assert lines == [
        "task train: outputs dataset model, url s3://bucket/x were not uploaded: groupplug keeps "
        "a task's results in its {{output}} directory on this host "
        f"({tmp_path / 'run' / 'outputs' / 'train'}); copy them from there"]


# ------------------------------------------------------------------------ the guard
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_command_dies_with_the_process_that_started_it(tmp_path):
    """The process that started a member command (an Airflow task runner, a Dask worker) is
    SIGKILLed: the command and what it started are stopped, not orphaned."""
    marker = tmp_path / "pids"
    code = (f"import sys, time; sys.path[:0] = {sys.path!r}; "
            "from groupplug.launch import popen; "
            f"popen('sleep 600 & echo $$ $! > {marker}; wait'); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code])
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline and parent.poll() is None
            time.sleep(0.05)
        pids += map(int, marker.read_text().split())
        shell, sleeper = pids
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while (alive(shell) or alive(sleeper)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(shell) and not alive(sleeper), "the command outlived its starter"
    finally:
        parent.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_command_keeps_its_exit_code_and_its_signal(tmp_path):
    assert popen("exit 3").wait() == 3
    assert popen("kill -TERM $$").wait() == -signal.SIGTERM
    missing = tmp_path / "nope"
    with pytest.raises(LaunchError, match="nope"):
        popen(Launch((str(missing),), cwd=str(tmp_path)))
