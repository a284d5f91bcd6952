"""``groupplug run ... --engine prefect`` as a user types it: a process of its own per run.

Why not the session server: a suite that shared one server fixture stayed green while every
CLI run hung ~70 s at exit and lost the top flow's last log record (Prefect's log worker was
drained by ``atexit``, after our server had stopped). Each test here starts the real command,
which starts and stops its own server; the server's database is kept (``GROUPPLUG_PREFECT_HOME``)
and read after the process ended, so a record lost at exit fails the test.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from groupplug.report import RunReport

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
GROUPPLUG = ROOT / ".venv-prefect" / "bin" / "groupplug"
FLOWS = Path(__file__).resolve().parent / "flows"
ONE_TASK = """\
workflow:
  name: one
  groups:
    - name: solo
      tasks:
        - name: hello
          command: echo hello from the member
"""
#: A Prefect run log line on stderr: "<date> <time> prefect.flow_runs INFO <message>".
RUN_LOG = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ prefect\.(flow|task)_runs \w+ (?P<msg>.*)$")


def groupplug(*args: str, home: Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess,
                                                                      float]:
    env = {**os.environ, "GROUPPLUG_PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)  # the session server of other tests is not this run's
    began = time.monotonic()
    result = subprocess.run([str(GROUPPLUG), *args], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, env=env)
    return result, time.monotonic() - began


def logged_to_api(stderr: str) -> list[str]:
    """What the run logged through Prefect's run loggers; "View at" lines stay local
    (Prefect marks them send_to_api=False)."""
    messages = [m.group("msg") for line in stderr.splitlines() if (m := RUN_LOG.match(line))]
    return [m for m in messages if not m.startswith("View at ")]


def engine_log(stderr: str) -> str:
    """The engine log file the run named at its end: Prefect's lines go there, not to stderr."""
    named = [line for line in stderr.splitlines() if line.startswith("groupplug: engine logs: ")]
    assert len(named) == 1, stderr[-3000:]
    return Path(named[0].split(": ", 2)[2]).read_text()


def saved_logs(home: Path) -> list[str]:
    with sqlite3.connect(home / "prefect.db") as db:
        return [row[0] for row in db.execute("SELECT message FROM log ORDER BY timestamp")]


def test_yaml_run_exits_with_every_log_record_saved(tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text(ONE_TASK)
    result, wall = groupplug("run", str(spec), "--engine", "prefect", "--json",
                             home=tmp_path / "home")
    print(f"groupplug run (one-task YAML, prefect): {wall:.1f}s wall, server start included")
    assert result.returncode == 0, result.stderr[-3000:]
    report = RunReport.from_json(json.loads(result.stdout))  # stdout is exactly one object
    assert report.state == "succeeded" and report.run_id
    assert report.groups["solo"].members["hello"].state.value == "succeeded"
    assert "Error logging to API" not in result.stderr
    assert not logged_to_api(result.stderr), result.stderr  # Prefect's lines: the log file
    log_text = engine_log(result.stderr)
    assert "Error logging to API" not in log_text
    logged = logged_to_api(log_text)
    assert len(logged) >= 6, log_text  # 2 flows x begin/end, the member's line, its end
    assert sorted(saved_logs(tmp_path / "home")) == sorted(logged)


def test_verbose_tells_the_story_on_the_chosen_port(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result, _ = groupplug("-v", "run", str(FLOWS / "shell_groups.py") + ":shell_training",
                          "--engine", "prefect", "--port", str(port), "--json",
                          home=tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    log_text = engine_log(result.stderr)
    assert f"127.0.0.1:{port}/api" in log_text
    assert "HTTP Request" not in result.stderr and "HTTP Request" not in log_text
    assert ("group train ended succeeded; lead master: master succeeded, worker succeeded "
            "(lead finished)") in log_text, log_text[-6000:]
    story = [line.split(" ", 1)[1] for line in result.stderr.splitlines()
             if re.match(r"^\d\d:\d\d:\d\d ", line)]
    assert "train.worker stopped as succeeded: lead finished" in story, result.stderr[-3000:]
    assert "group train finished: succeeded" in story
    assert " prefect." not in result.stderr  # the engine's lines are in the file only
    report = json.loads(result.stdout)  # the flow's print went to stderr
    assert "the flow prints this; with --json it goes to stderr" in result.stderr
    assert report["state"] == "succeeded"
    assert report["flow_run"]["state"] == "Completed"
    members = report["groups"]["train"]["members"]
    assert members["master"]["state"] == "succeeded"
    assert (members["worker"]["state"], members["worker"]["reason"]) == ("succeeded",
                                                                          "lead finished")


def test_port_in_use_is_refused_before_any_work(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        spec = tmp_path / "one.yaml"
        spec.write_text(ONE_TASK)
        result, _ = groupplug("run", str(spec), "--engine", "prefect", "--port", str(port),
                              home=tmp_path / "home")
    assert result.returncode == 2
    assert f"--port {port}" in result.stderr and "leave --port out" in result.stderr


@pytest.mark.parametrize(("target", "expected"), [
    ("no_such_flow", "has no flow 'no_such_flow'; its flows: fails_after_its_groups, "
                     "needs_an_argument, shell_training"),
    ("not_a_flow", "not_a_flow is not a flow; decorate it with @flow"),
    ("needs_an_argument", "requires epochs; give them default values"),
])
def test_flow_file_mistakes_name_the_fix(tmp_path, target, expected):
    result, _ = groupplug("run", f"{FLOWS / 'shell_groups.py'}:{target}", "--engine", "prefect",
                          home=tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert not (tmp_path / "home" / "prefect.db").exists()  # refused before a server started


def test_existing_server_that_does_not_answer_is_refused(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    spec = tmp_path / "one.yaml"
    spec.write_text(ONE_TASK)
    env = {**os.environ, "GROUPPLUG_PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    result = subprocess.run([str(GROUPPLUG), "run", str(spec), "--engine", "prefect"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert "no Prefect server answers there" in result.stderr
    assert "unset GROUPPLUG_PREFECT_API_URL" in result.stderr
    env_and_port = subprocess.run(
        [str(GROUPPLUG), "run", str(spec), "--engine", "prefect", "--port", "4999"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert env_and_port.returncode == 2 and "give one of them" in env_and_port.stderr
