"""How much a group's watching costs the api-server: N running members vs N plain tasks.

Each DAG holds N ``@task`` functions that sleep; in the grouped DAG they sit in one
``group(...)`` whose lead sleeps a little longer than the window (so every member is watching
for the whole window). The api-server's CPU seconds (its process and its workers, from
``psutil``) are read over a ``window`` of seconds once all N tasks run, for each DAG in turn.

``python benchmarks/airflow_api_load.py [N ...] [--window S]`` prints one JSON line per N:
``{"members": 20, "grouped_cpu_s": .., "plain_cpu_s": .., "ratio": ..}``. The helpers
(:func:`measure`) are what ``benchmarks/run.py`` rows can call with their own server.

Measured here (2 shared cores, SQLite, 1 s member poll = one ``get_task_states`` call per member
per second): 20 members 13.0 api-server CPU-s vs 2.8 for 20 plain tasks over 60 s (4.6x; the
issue measured 21.2 vs 1.6, 13.4x, with two calls per member per 0.5 s). The cost is linear in
members / poll interval: ``GROUPPLUG_AIRFLOW_POLL_SECONDS`` on the workers trades it for the
lead-stop latency (about one interval plus the task's own exit).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

GROUPED = '''
import time
from airflow.sdk import DAG, task
from groupplug.airflow import group

@task
def lead():
    time.sleep({lead_s})

@task
def member():
    time.sleep(600)

with DAG({dag_id!r}, schedule=None):
    with group("load", lead="lead", barrier=False):
        lead()
        for i in range({others}):
            member.override(task_id=f"m{{i}}")()
'''

PLAIN = '''
import time
from airflow.sdk import DAG, task

@task
def member():
    time.sleep({lead_s})

with DAG({dag_id!r}, schedule=None):
    for i in range({n}):
        member.override(task_id=f"m{{i}}")()
'''


def api_cpu_seconds(airflow: Any) -> float:
    """User + system CPU seconds of the api-server process tree so far."""
    import psutil

    root = psutil.Process(airflow._procs["api-server"].pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _running(client: Any, dag_id: str, run_id: str) -> int:
    return sum(ti["state"] == "running" for ti in client.task_instances(dag_id, run_id))


def measure(airflow: Any, n: int, window: float = 60.0, grouped: bool = True) -> float:
    """api-server CPU seconds over ``window`` while ``n`` tasks (members or plain) run."""
    client = airflow.client()
    dag_id = f"apiload_{'g' if grouped else 'p'}{n}_{uuid.uuid4().hex[:4]}"
    lead_s = int(window + 240)  # outlives the wait for every task to start plus the window
    source = (GROUPED.format(dag_id=dag_id, lead_s=lead_s, others=n - 1) if grouped
              else PLAIN.format(dag_id=dag_id, lead_s=lead_s, n=n))
    (airflow.dags_folder / f"{dag_id}.py").write_text(source)
    client.wait_for_dag(dag_id, timeout=180)
    client.trigger(dag_id, "load")
    deadline = time.monotonic() + 300
    while _running(client, dag_id, "load") < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id}: only {_running(client, dag_id, 'load')} of {n} "
                               "tasks started in 300 s")
        time.sleep(2)
    time.sleep(5)  # let start-up requests settle
    before = api_cpu_seconds(airflow)
    time.sleep(window)
    used = api_cpu_seconds(airflow) - before
    client._request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/load", {"state": "failed"})
    return used


def main() -> None:
    from groupplug.airflow._server import EmbeddedAirflow

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[20])
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    with EmbeddedAirflow(parallelism=max(args.sizes) + 8) as airflow:
        for n in args.sizes:
            grouped = measure(airflow, n, args.window, grouped=True)
            time.sleep(10)
            plain = measure(airflow, n, args.window, grouped=False)
            time.sleep(10)
            print(json.dumps({"members": n, "window_s": args.window,
                              "grouped_cpu_s": round(grouped, 2),
                              "plain_cpu_s": round(plain, 2),
                              "ratio": round(grouped / plain, 2) if plain else None}),
                  flush=True)


if __name__ == "__main__":
    main()
