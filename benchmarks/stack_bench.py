"""Benchmarks on the production shape (``scripts/stack``); runs in .venv-airflow.

- ``stack_faults``: the fault tests of ``tests/stack`` (Celery worker SIGKILLed in main work and
  in setup at a barrier, triggerer restarted at a deferred barrier, two runs of one DAG at once,
  a Dask worker process killed), each run once: faults tried, survived (test passed: the outcome
  DESIGN gives, no hang, every record final), and member processes left behind afterwards.
- ``stack_load_10x10``: 10 groups of 10 members (barrier, lead, a setup and a command each) at
  once on Airflow with Celery, against the same 100 commands as a plain DAG without groups: wall
  time, peak api-server CPU (all its processes) and peak PostgreSQL connections.
- ``stack_load_10x10_setups``: the same grouped run against the same work written the native
  way: 100 members' setup and command as two BashOperators each (``setup >> command``), so both
  sides run their setups as task instances. Measured in the same run as the row above.

Uses the running stack, or starts one (``scripts/stack up``) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import emit  # noqa: E402

from groupplug import stack as stack_mod  # noqa: E402

FAULTS = "killed or restarted or two_runs"
SLEEP = 5


def _running() -> bool:
    try:
        state = stack_mod.load()
    except Exception:  # noqa: BLE001 - no stack.json
        return False
    return all(stack_mod.alive(pid) for pid in state["pids"].values())


def faults() -> None:
    base = Path(tempfile.mkdtemp(prefix="groupplug-stack-faults-"))
    tried = survived = 0
    for venv in (".venv-airflow", ".venv-prefect"):
        xml = base / f"{venv}.xml"
        subprocess.run([str(ROOT / venv / "bin" / "python"), "-m", "pytest", "tests/stack",
                        "-q", "-p", "no:cacheprovider", "-k", FAULTS, f"--junitxml={xml}",
                        f"--basetemp={base / venv}"], cwd=ROOT, capture_output=True)
        for case in ET.parse(xml).iter("testcase"):
            if case.find("skipped") is not None:
                continue
            tried += 1
            survived += case.find("failure") is None and case.find("error") is None
    time.sleep(5)  # members stopped at the end of a run get their last seconds
    left = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, base))
    emit("stack_faults", groupplug=float(survived), native=float(tried), unit="survived",
         target="all survived, 0 left", met=survived == tried and left == 0,
         detail=f"{survived} of {tried} faults survived (outcome as DESIGN says, no hang, every "
                f"record final: 0 records lost in those); {left} member processes left behind")


def _cmdline_has(pid: str, base: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return str(base).encode() in f.read()
    except OSError:
        return False


GROUPED = "workflow:\n  name: load\n  groups:\n" + "".join(
    f"  - name: g{g}\n    tasks:\n" + "".join(
        f"    - {{name: m{m}, {'lead: true, ' if m == 0 else ''}setup: 'true', "
        f"command: 'sleep {SLEEP}'}}\n" for m in range(10)) for g in range(10))

PLAIN = f"""
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG("plain_load_{{suffix}}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    for i in range(100):
        BashOperator(task_id=f"t{{{{i}}}}", bash_command="sleep {SLEEP}")
"""

#: The same 100 members' setup and main steps as plain Airflow tasks, one chain per member.
PLAIN_SETUPS = f"""
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG("plain_setups_{{suffix}}", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    for i in range(100):
        BashOperator(task_id=f"s{{{{i}}}}", bash_command="true") >> BashOperator(
            task_id=f"t{{{{i}}}}", bash_command="sleep {SLEEP}")
"""


class Sampler(threading.Thread):
    """Peak CPU (percent of one core) of the api-server's processes and peak DB connections."""

    def __init__(self, state: dict):
        super().__init__(daemon=True)
        self.state, self.done = state, threading.Event()
        self.peak_cpu = 0.0
        self.peak_connections = 0

    def run(self) -> None:
        pgid = self.state["pids"]["api-server"]
        last = (time.monotonic(), _group_ticks(pgid))
        while not self.done.wait(1.0):
            now = (time.monotonic(), _group_ticks(pgid))
            cpu = (now[1] - last[1]) / os.sysconf("SC_CLK_TCK") / (now[0] - last[0]) * 100
            self.peak_cpu, last = max(self.peak_cpu, cpu), now
            self.peak_connections = max(self.peak_connections, _connections(self.state))


def _group_ticks(pgid: int) -> int:
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total


def _connections(state: dict) -> int:
    pg = state["postgres"]
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg["port"]), "-U", pg["user"],
                          "-tAc", "select count(*) from pg_stat_activity", "postgres"],
                         env={**os.environ, "PGPASSWORD": pg["password"]},
                         capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def load() -> None:
    from groupplug.airflow import runner
    from groupplug.airflow.stack import StackAirflow
    from groupplug.loader import load_workflow

    state = stack_mod.load()
    airflow = StackAirflow(state)
    client = airflow.client()
    suffix = uuid.uuid4().hex[:6]
    (airflow.dags_folder / f"plain_load_{suffix}.py").write_text(PLAIN.format(suffix=suffix))
    (airflow.dags_folder / f"plain_setups_{suffix}.py").write_text(
        PLAIN_SETUPS.format(suffix=suffix))
    workflow = load_workflow(GROUPED)
    dag_id = f"grouped_load_{suffix}"
    runner.write_dag(airflow, workflow, dag_id, [])
    results = {}
    for name in (f"plain_load_{suffix}", f"plain_setups_{suffix}", dag_id):
        client.wait_for_dag(name, timeout=600)
        sampler = Sampler(state)
        sampler.start()
        began = time.monotonic()
        client.trigger(name, "load")
        while client.dag_run(name, "load")["state"] not in ("success", "failed"):
            time.sleep(1)
        wall = time.monotonic() - began
        sampler.done.set()
        sampler.join()
        results[name] = (wall, sampler.peak_cpu, sampler.peak_connections,
                         client.dag_run(name, "load")["state"])
    report = runner.read_report(client, workflow, dag_id, "load", [])
    ok = sum(1 for g in report.groups.values() if g.state.value == "succeeded")
    plain, grouped = results[f"plain_load_{suffix}"], results[dag_id]
    setups = results[f"plain_setups_{suffix}"]
    emit("stack_load_10x10", groupplug=grouped[0], native=plain[0], unit="s",
         target="ratio <= 1.5", met=grouped[0] / plain[0] <= 1.5 and ok == 10,
         detail=f"10 groups x 10 members ({ok}/10 groups succeeded) vs 100 plain tasks "
                f"({plain[3]}), sleep {SLEEP} each, 2 Celery workers x 8 slots; peak "
                f"api-server CPU {grouped[1]:.0f}% vs {plain[1]:.0f}% of a core; peak "
                f"PostgreSQL connections {grouped[2]} vs {plain[2]}")
    emit("stack_load_10x10_setups", groupplug=grouped[0], native=setups[0], unit="s",
         target="ratio <= 1.5", met=grouped[0] / setups[0] <= 1.5 and ok == 10,
         detail=f"the grouped run above vs 100 setup >> command BashOperator pairs "
                f"({setups[3]}, 200 task instances against the groups' 220); peak api-server "
                f"CPU {setups[1]:.0f}%, PostgreSQL connections {setups[2]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.parse_args()
    started = not _running()
    if started:
        subprocess.run([str(ROOT / "scripts" / "stack"), "up"], check=True)
    try:
        load()
        faults()
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts" / "stack"), "down"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
