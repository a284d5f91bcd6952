"""Airflow rows with native members (``@task``, a deferred sensor, ``BashOperator``).

- ``airflow_native_lead_stop``: a ``@task`` lead that ends 3 s after the barrier; four ``@task``
  members in ``time.sleep(600)``, one deferred ``TimeDeltaSensor``, one ``BashOperator``
  ``sleep 600``: seconds from the lead's end to the last member's end (Airflow's own task end
  dates), median of 3 runs. Native anchor: a running ``BashOperator`` marked failed through the
  REST API, seconds until its run ends.
- ``airflow_api_load_N``: N ``@task`` members of one group running for a 60 s window vs N plain
  ``@task`` tasks: CPU seconds the api-server (every process of it) spent in that window. The
  members' watching should cost about what the tasks' own heartbeats cost.

Run by ``airflow_bench.py --only native`` (and by default).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from _common import emit

STOP_DAG = '''
import time
from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, task

from groupplug.airflow import group


@task
def lead():
    time.sleep(3)


@task
def sleeper():
    time.sleep(600)


with DAG("bench_native_lead_stop", schedule=None, max_active_runs=1):
    with group("g", lead="lead"):
        lead()
        for i in range(4):
            sleeper.override(task_id=f"py{i}")()
        TimeDeltaSensor(task_id="deferred", delta=timedelta(hours=1), deferrable=True)
        BashOperator(task_id="shell", bash_command="sleep 600")
'''

LOAD_DAG = '''
import time

from airflow.sdk import DAG, task

from groupplug.airflow import group


@task
def work(seconds):
    time.sleep(seconds)


with DAG("{dag_id}", schedule=None):
    if {grouped}:
        with group("g", lead="m0", barrier=False):
            for i in range({size}):
                work.override(task_id=f"m{{i}}")({lead_seconds} if i == 0 else 600)
    else:
        for i in range({size}):
            work.override(task_id=f"m{{i}}")({lead_seconds})
'''

WINDOW = 60.0


def _write(airflow: Any, dag_id: str, text: str) -> None:
    tmp = airflow.dags_folder / f".{dag_id}.py.tmp"
    tmp.write_text(text)
    tmp.rename(airflow.dags_folder / f"{dag_id}.py")


def _end(ti: dict[str, Any]) -> float:
    return datetime.fromisoformat(ti["end_date"]).timestamp()


def lead_stop_seconds(airflow: Any, runs: int = 3) -> tuple[float, list[float]]:
    """Median over ``runs`` of (last member's end - lead's end), and every run's value."""
    from groupplug.airflow import dagfile

    client = airflow.client()
    _write(airflow, "bench_native_lead_stop", STOP_DAG)
    client.wait_for_dag("bench_native_lead_stop", 180)
    values = []
    for n in range(runs):
        run_id = f"stop{n}"
        client.trigger("bench_native_lead_stop", run_id)
        dagfile.follow(client, "bench_native_lead_stop", run_id, 900)
        tis = {t["task_id"]: t for t in client.task_instances("bench_native_lead_stop", run_id)}
        report = dagfile.read_report(client, "bench_native_lead_stop", run_id)
        members = report.groups["g"].members
        stopped = [n for n in members if n != "lead"]
        bad = {n: (members[n].state.value, members[n].reason) for n in stopped
               if members[n].reason != "lead finished"}
        if bad:
            raise RuntimeError(f"run {run_id}: members not stopped by the lead: {bad}")
        lead_end = _end(tis["g.lead"])
        values.append(max(_end(tis[f"g.{n}"]) for n in stopped) - lead_end)
        print(f"lead stop run {n}: {values[-1]:.2f} s", file=sys.stderr, flush=True)
    return statistics.median(values), values


def _api_cpu(airflow: Any) -> float:
    """CPU seconds (user + system) of the api-server and every process under it."""
    import psutil

    root = psutil.Process(airflow._procs["api-server"].pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def api_cpu_in_window(airflow: Any, size: int, grouped: bool) -> float:
    """Api-server CPU seconds over :data:`WINDOW` s while ``size`` tasks all run."""
    from groupplug.airflow import dagfile

    client = airflow.client()
    dag_id = f"bench_load_{'group' if grouped else 'plain'}_{size}"
    _write(airflow, dag_id, LOAD_DAG.format(dag_id=dag_id, grouped=grouped, size=size,
                                            lead_seconds=3600))
    client.wait_for_dag(dag_id, 180)
    client.trigger(dag_id, "load")
    prefix = "g." if grouped else ""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        running = sum(1 for t in client.task_instances(dag_id, "load")
                      if t["task_id"].startswith(prefix + "m") and t["state"] == "running")
        if running == size:
            break
        time.sleep(1.0)
    else:
        raise RuntimeError(f"{dag_id}: {size} tasks never ran at once")
    time.sleep(5)  # let the start-up requests of the last tasks pass
    before = _api_cpu(airflow)
    time.sleep(WINDOW)  # no API calls of ours inside the window
    spent = _api_cpu(airflow) - before
    # Ended by hand (everything sleeps an hour): Airflow stops the tasks of a failed run.
    client._request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/load", {"state": "failed"})
    print(f"{dag_id}: {spent:.1f} CPU-s", file=sys.stderr, flush=True)
    dagfile.follow(client, dag_id, "load", 300)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(
            t["state"] in ("running", "deferred", "queued")
            for t in client.task_instances(dag_id, "load")):
        time.sleep(1.0)
    return spent


def native_rows(rest_mark_failed: Callable[[Any], float]) -> None:
    """The three rows; ``rest_mark_failed(airflow)`` is the native stop anchor."""
    from groupplug.airflow._server import EmbeddedAirflow

    with EmbeddedAirflow(parallelism=64) as airflow:
        median, values = lead_stop_seconds(airflow)
        native = rest_mark_failed(airflow)
        emit("airflow_native_lead_stop", groupplug=median, native=native, unit="s",
             target="<= 2 s", met=median <= 2,
             detail="@task lead ends 3 s after the barrier -> last of 4 @task time.sleep(600), "
                    "1 deferred TimeDeltaSensor, 1 BashOperator sleep 600 ended (task end "
                    f"dates), median of 3 ({', '.join(f'{v:.2f}' for v in values)} s); native: "
                    "PATCH a running task to failed -> its run ended")
        for size in (20, 40):
            plain = api_cpu_in_window(airflow, size, grouped=False)
            ours = api_cpu_in_window(airflow, size, grouped=True)
            emit(f"airflow_api_load_{size}", groupplug=ours, native=plain, unit="CPU-s",
                 target="ratio <= 2", met=ours / plain <= 2,
                 detail=f"api-server CPU over {WINDOW:.0f} s with {size} running @task members "
                        f"of one group vs {size} plain @task tasks")
