"""Prefect on the stack: the PostgreSQL-backed server, groups on the Dask cluster (a scheduler
and two worker processes under nannies). Conformance for the whole core shell table through the
CLI, every member's command a descendant of a Dask worker process, then a Dask worker process
killed while its member runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("prefect")

from groupplug.loader import load_workflow  # noqa: E402
from groupplug.prefect import runner  # noqa: E402
from groupplug.report import RunReport  # noqa: E402
from groupplug.service_procs import alive  # noqa: E402
from tests.core.conformance import (  # noqa: E402
    INPUT_SCENARIOS,
    OSMO_SCENARIOS,
    SCENARIOS,
    under_load,
)

pytestmark = pytest.mark.slow
#: The whole shell table, each scenario a ``groupplug run --engine prefect --stack --json`` as a
#: user types it, PARALLEL at a time: their members share the Dask workers' 16 slots.
TABLE = under_load(SCENARIOS + INPUT_SCENARIOS + OSMO_SCENARIOS)
PARALLEL = 3
GROUPPLUG = Path(sys.executable).with_name("groupplug")


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def dask_worker_of(pid: int, nannies: set[int]) -> int | None:
    """The Dask worker process (a nanny's child) that ``pid`` descends from, if any."""
    while pid > 1:
        parent = _parent(pid)
        if parent in nannies:
            return pid
        pid = parent
    return None


def nannies(stack) -> set[int]:
    return {pid for name, pid in stack.state["pids"].items() if name.startswith("dask-worker")}


def test_conformance_table_on_dask_and_postgres(stack, tmp_path):
    env = {**os.environ, "GROUPPLUG_STACK_DIR": str(stack.dir)}
    pending, running, problems = list(TABLE), {}, {}
    while pending or running:
        while pending and len(running) < PARALLEL:
            scenario = pending.pop(0)
            where = tmp_path / scenario.id
            where.mkdir()
            (where / "spec.yaml").write_text(scenario.spec_yaml(str(where)))
            with (where / "out").open("w") as out, (where / "err").open("w") as err:
                proc = subprocess.Popen([str(GROUPPLUG), "run", str(where / "spec.yaml"),
                                         "--engine", "prefect", "--stack", "--json"],
                                        stdout=out, stderr=err, env=env)
            running[scenario.id] = (scenario, where, proc, time.monotonic() + 600)
        for sid, (scenario, where, proc, deadline) in list(running.items()):
            if proc.poll() is None and time.monotonic() < deadline:
                continue
            del running[sid]
            if proc.poll() is None:
                proc.kill()
            problems[sid] = _check_cli_run(scenario, where, proc.wait())
        time.sleep(0.5)
    assert {sid: found for sid, found in problems.items() if found} == {}


def _check_cli_run(scenario, where: Path, code: int) -> list[str]:
    """What differs between a finished ``groupplug run --json`` and ``scenario``."""
    err = (where / "err").read_text()[-3000:]
    lines = [line for line in (where / "out").read_text().splitlines() if line.startswith("{")]
    if len(lines) != 1:
        return [f"exit {code}; {len(lines)} JSON reports, expected 1", err]
    expected = 0 if scenario.state == "succeeded" else 1
    found = scenario.check(RunReport.from_json(json.loads(lines[0])))
    if code != expected:
        found.append(f"exit {code}, expected {expected}: {err}")
    return found + [lines[0]] if found else []


def in_background(yaml: str) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def run() -> None:
        try:
            result["report"] = runner.run_workflow(load_workflow(yaml), [], {"stack": True})
        except Exception as exc:  # noqa: BLE001 - the test's assertion names it
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def pid_from(marker: Path, thread: threading.Thread, result: dict) -> int:
    while not marker.exists() or not marker.read_text().strip():
        assert thread.is_alive(), result
        time.sleep(0.5)
    return int(marker.read_text())


def test_members_run_in_dask_worker_processes(stack, tmp_path):
    wait_go = f"while [ ! -f {tmp_path}/go ]; do sleep 0.5; done"
    yaml = f"""
workflow:
  name: where
  groups:
  - name: g
    tasks:
    - {{name: a, lead: true, command: "echo $$ > {tmp_path}/a; {wait_go}"}}
    - {{name: b, command: "echo $$ > {tmp_path}/b; sleep 600"}}
"""
    thread, result = in_background(yaml)
    workers = {name: dask_worker_of(pid_from(tmp_path / name, thread, result), nannies(stack))
               for name in ("a", "b")}
    (tmp_path / "go").touch()
    thread.join(600)
    assert None not in workers.values(), f"members outside the Dask workers: {workers}"
    assert result["report"].state == "succeeded", result


def test_dask_worker_killed_while_its_member_runs(stack, tmp_path):
    """The lead's Dask worker process dies (SIGKILL) in the lead's main work: the run must end
    (no hang) with every record final, and the lead not reported succeeded."""
    yaml = f"""
workflow:
  name: daskkill
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "echo $$ > {tmp_path}/lead; sleep 600"}}
    - {{name: w1, command: "sleep 600"}}
"""
    thread, result = in_background(yaml)
    shell = pid_from(tmp_path / "lead", thread, result)
    worker = dask_worker_of(shell, nannies(stack))
    assert worker is not None, "the lead's command does not run under a Dask worker"
    os.kill(worker, signal.SIGKILL)
    try:
        thread.join(900)
        # The command's guard gets the worker's death signal and stops the command's group.
        deadline = time.monotonic() + 30
        while alive(shell) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(shell), "the lead's command outlived its killed Dask worker"
    finally:
        with contextlib.suppress(ProcessLookupError):  # never left to run its 600 s
            os.killpg(shell, signal.SIGKILL)
    assert not thread.is_alive(), "the run hung after its member's Dask worker was killed"
    if "error" in result:  # allowed: the run fails saying what was lost
        assert "lead" in str(result["error"]) or "worker" in str(result["error"]).lower()
        return
    report = result["report"]
    group = report.groups["g"]
    assert group.members["lead"].state.value != "succeeded", report.to_json()
    assert report.state == "failed", report.to_json()
