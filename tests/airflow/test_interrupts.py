"""Interrupts and dead services on the embedded Airflow, through ``groupplug run``.

- A member's task runner SIGKILLed: its command is stopped with it (not orphaned).
- Ctrl-C: the run is marked failed in Airflow, every task instance ends, the services and every
  process they started stop, the temporary ``AIRFLOW_HOME`` goes last; one JSON object
  ``interrupted``. While it runs, nothing it started listens beyond loopback.
- The triggerer killed while a barrier is deferred: it is restarted and the barrier releases.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from groupplug.airflow import runner
from groupplug.loader import load_workflow
from tests.core.interrupts import BARRIER_YAML, marked_processes, run_and_signal

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv-airflow" / "bin" / "python")
MEMBERS = ("master", "worker-1", "worker-2")


def listening(pids: list[int]) -> list[tuple[int, str, str]]:
    """``(pid, name, address)`` of every listening TCP socket of ``pids``."""
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            sockets = process.net_connections(kind="inet")
            name = " ".join(process.cmdline()[:3])
        except psutil.Error:
            continue
        found += [(pid, name, s.laddr.ip) for s in sockets if s.status == psutil.CONN_LISTEN]
    return found


def test_ctrl_c_ends_the_run_its_services_and_home_listening_on_loopback_only(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = tmp_path / "w.yaml"
    spec.write_text(BARRIER_YAML.format(marks=marks))
    sockets: list[tuple[int, str, str]] = []

    orphan: list[str] = []

    def check_sockets_then_kill_a_task_runner(proc, mark):
        pids = [int(line.split()[0]) for line in marked_processes(mark)]
        sockets.extend(listening(pids))
        # worker-1's task runner SIGKILLed: its command must not be orphaned
        sleeper = next(psutil.Process(int(line.split()[0])) for line in marked_processes(mark)
                       if "sleep 301" in line)
        guard = next(p for p in sleeper.parents() if "_guard.py" in " ".join(p.cmdline()))
        guard.parent().kill()
        try:
            sleeper.wait(15)
        except psutil.TimeoutExpired:
            orphan.append(" ".join(sleeper.cmdline()))

    result = run_and_signal(["run", str(spec), "--engine", "airflow", "--json"], tmp_path,
                            [marks / m for m in MEMBERS], signal.SIGINT, python=PYTHON,
                            before_signal=check_sockets_then_kill_a_task_runner,
                            exit_timeout=120,
                            ready_timeout=900)  # Airflow's start: 130-210 s on a loaded machine
    print(f"airflow YAML run: SIGINT -> exit in {result.seconds:.1f}s")
    assert sockets, "the api-server listens: the probe of listening sockets found nothing"
    assert orphan == [], "a member command outlived its SIGKILLed task runner"
    wide = [s for s in sockets if not ipaddress.ip_address(s[2]).is_loopback]
    assert wide == [], f"embedded services listen beyond loopback: {wide}"
    assert result.returncode == 130, result.stderr[-3000:]
    assert result.left == [], "processes outlived the run"
    assert result.homes_left == [], "the temporary AIRFLOW_HOME was left"
    report = result.report()
    assert report["state"] == "interrupted", report
    group = report["groups"]["train"]
    assert group["state"] == "failed", group
    assert {m["state"] for m in group["members"].values()} == {"failed"}, group


TWO_WITH_SETUP = """\
workflow:
  name: triggerer-killed
  groups:
  - name: pair
    lead: a
    barrierTimeout: 600
    tasks:
    - {name: a, setup: "sleep 20", command: "true"}
    - {name: b, command: "true"}
"""


def test_a_killed_triggerer_is_restarted_and_the_barrier_releases(airflow_server, tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text(TWO_WITH_SETUP)
    workflow = load_workflow(spec)
    result: dict = {}
    dag_id = runner.dag_id_for(workflow)

    def run():
        result["report"] = runner.run_workflow(workflow, [], {"airflow": airflow_server,
                                                              "dag_id": dag_id})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = airflow_server.client()
    deadline = time.monotonic() + 240
    while not any(ti["task_id"].endswith("__barrier__") and ti["state"] == "deferred"
                  for ti in _tis(client, dag_id)):
        assert time.monotonic() < deadline and thread.is_alive(), "the barrier never deferred"
        time.sleep(0.5)
    restarts = airflow_server.restarts["triggerer"]
    os.killpg(airflow_server._procs["triggerer"].pid, signal.SIGKILL)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run hung after the triggerer died"
    assert airflow_server.restarts["triggerer"] == restarts + 1
    report = result["report"]
    assert report.state == "succeeded", report.to_json()
    assert report.groups["pair"].members["b"].state.value == "succeeded"


def _tis(client, dag_id: str) -> list[dict]:
    try:
        runs = client.get(f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
    except Exception:  # noqa: BLE001 - not parsed yet
        return []
    return [ti for r in runs for ti in client.task_instances(dag_id, r["dag_run_id"])]


SLOW_SETUP = """\
workflow:
  name: no-triggerer
  groups:
  - name: pair
    lead: a
    barrierTimeout: 5
    tasks:
    - {name: a, command: "true"}
    - {name: b, setup: "sleep 600", command: "true"}
"""


def test_the_barrier_timeout_holds_with_no_triggerer(airflow_server, tmp_path):
    """Airflow's own deferral deadline (enforced by the scheduler) ends the barrier."""
    spec = tmp_path / "w.yaml"
    spec.write_text(SLOW_SETUP)
    airflow_server.supervise = False
    triggerer = airflow_server._procs["triggerer"]
    os.killpg(triggerer.pid, signal.SIGKILL)
    triggerer.wait()
    try:
        report = runner.run_workflow(load_workflow(spec), [], {"airflow": airflow_server,
                                                               "timeout": 300})
    finally:
        airflow_server.restart("triggerer")
        airflow_server.supervise = True
    members = report.groups["pair"].members
    assert report.state == "failed", report.to_json()
    assert members["a"].state.value == "failed", report.to_json()
    assert 'BarrierTimeout: group "pair" waited 5s; not arrived: b' in members["a"].reason


@pytest.mark.slow
def test_a_start_that_fails_stops_the_services_it_started(monkeypatch):
    """`with EmbeddedAirflow()` never reaches __exit__ when starting fails: start() itself must
    stop what it started (an Airflow that never became healthy ran on for 35 minutes)."""
    from groupplug.airflow._server import EmbeddedAirflow
    from groupplug.exceptions import EngineFailed

    def never_healthy(self, timeout):
        assert self._procs, "the services should be running by now"
        raise EngineFailed("Airflow did not become healthy (test)")

    monkeypatch.setattr(EmbeddedAirflow, "_wait_healthy", never_healthy)
    airflow = EmbeddedAirflow()
    with pytest.raises(EngineFailed, match="did not become healthy"), airflow:
        pass
    from groupplug._sweep import marked

    left = marked("AIRFLOW_HOME", str(airflow.home))
    assert left == []
    assert not airflow.home.exists()
