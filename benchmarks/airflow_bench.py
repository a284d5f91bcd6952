"""Airflow rows: DagBag parse time, barrier release spread, lead-driven stop (.venv-airflow);
the native-member rows (lead stop, api-server load) are in ``airflow_native.py``."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, spread  # noqa: E402

HOME = tempfile.mkdtemp(prefix="groupplug-bench-airflow-")
os.environ.setdefault("AIRFLOW_HOME", HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

GROUPPLUG_DAG = """
from groupplug import group, task, workflow
from groupplug.airflow import render_workflow
with workflow("parse_groupplug") as wf:
    previous = None
    for outer in range(10):
        with group(f"o{outer}", barrier=False):
            for inner in range(10):
                name = f"g{outer}_{inner}"
                with group(name, barrier=False, upstream=[previous] if previous else []):
                    for t in range(50):
                        task(f"t{outer}_{inner}_{t}", "true", lead=(t == 0))
                previous = name
dag = render_workflow(wf.spec, "parse_groupplug")
"""

NATIVE_DAG = """
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup
JOIN = {join}
with DAG("{dag_id}", schedule=None) as dag:
    previous = None
    for outer in range(10):
        with TaskGroup(f"o{{outer}}"):
            for inner in range(10):
                with TaskGroup(f"g{{outer}}_{{inner}}") as g:
                    for t in range(50):
                        BashOperator(task_id=f"t{{outer}}_{{inner}}_{{t}}", bash_command="true")
                if previous is not None:
                    if JOIN:
                        join = EmptyOperator(task_id=f"join_{{outer}}_{{inner}}")
                        previous >> join >> g
                    else:
                        previous >> g
                previous = g
"""


def parse_seconds(source: str, repeat: int) -> float:
    from airflow.dag_processing.dagbag import DagBag

    folder = Path(tempfile.mkdtemp(prefix="parse-"))
    (folder / "dag.py").write_text(textwrap.dedent(source))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        bag = DagBag(dag_folder=str(folder))
        times.append(time.perf_counter() - start)
        assert not bag.import_errors, bag.import_errors
        assert sum(len(d.tasks) for d in bag.dags.values()) >= 5000
    return statistics.median(times)


def parse_rows(repeat: int) -> None:
    ours = parse_seconds(GROUPPLUG_DAG, repeat)
    plain = parse_seconds(NATIVE_DAG.format(dag_id="parse_plain", join=False), max(repeat // 2, 1))
    joined = parse_seconds(NATIVE_DAG.format(dag_id="parse_join", join=True), repeat)
    emit("airflow_parse_5000", groupplug=ours, native=plain, unit="s", target="ratio <= 0.2",
         met=ours / plain <= 0.2, detail="5,000 tasks, 100 chained groups (10x10 nested); "
         "native: TaskGroups with group >> group")
    emit("airflow_parse_vs_join", groupplug=ours, native=joined, unit="s",
         target="ratio <= 1.2", met=ours / joined <= 1.2,
         detail="native: the same with an EmptyOperator join between groups")


def _starts(client, dag_id: str, run_id: str, prefix: str) -> list[float]:
    tis = client.task_instances(dag_id, run_id)
    return [datetime.fromisoformat(t["start_date"]).timestamp() for t in tis
            if t["task_id"].startswith(prefix) and not t["task_id"].endswith("__")
            and "__" not in t["task_id"].rsplit(".", 1)[-1] and t["start_date"]]


def _run(airflow, workflow, gang=()):
    from groupplug.airflow import runner

    client = airflow.client()
    dag_id = runner.dag_id_for(workflow)
    if gang:
        spec = airflow.home / "specs"
        spec.mkdir(exist_ok=True)
        from groupplug.loader import dump_workflow

        (spec / f"{dag_id}.yaml").write_text(dump_workflow(workflow))
        (airflow.dags_folder / f"{dag_id}.py").write_text(
            "from groupplug.airflow import dag_from_yaml\n"
            f"dag = dag_from_yaml({str(spec / (dag_id + '.yaml'))!r}, {dag_id!r}, "
            f"gang={list(gang)!r}, max_active_tasks=64)\n")
    else:
        runner.write_dag(airflow, workflow, dag_id, [])
    client.wait_for_dag(dag_id)
    client.trigger(dag_id, "bench")
    runner.follow(client, workflow, dag_id, "bench", [], None, 900)
    return client, dag_id, runner.read_report(client, workflow, dag_id, "bench", [])


def runtime_rows(members: int = 20) -> None:
    from groupplug.airflow._server import EmbeddedAirflow
    from groupplug.loader import loads_workflow

    def spec(name: str, barrier: bool, lead_cmd: str = "sleep 1", cmd: str = "sleep 1",
             setup: bool = True, count: int = members) -> object:
        tasks = "\n".join(
            f"    - {{name: m{i}{', lead: true' if i == 0 else ''}, "
            + (f"setup: 'sleep 0.{i % 10}', " if setup else "")
            + f"command: '{lead_cmd if i == 0 else cmd}'}}" for i in range(count))
        return loads_workflow(f"workflow:\n  name: {name}\n  groups:\n  - name: g\n"
                              f"    barrier: {str(barrier).lower()}\n    tasks:\n{tasks}\n")

    with EmbeddedAirflow(parallelism=64) as airflow:
        client, dag_id, report = _run(airflow, spec("barrier", True))
        ours = spread([m.started_at for m in report.groups["g"].members.values()])
        client, dag_id, _ = _run(airflow, spec("plain", False, setup=False))
        native = spread(_starts(client, dag_id, "bench", "g."))
        _, _, gang_report = _run(airflow, spec("gang", True, setup=False), gang=["g"])
        gang = spread([m.started_at for m in gang_report.groups["g"].members.values()])
        emit("airflow_barrier_spread_20", groupplug=ours, native=native, unit="s",
             target="ratio <= 1.5; gang <= 0.5 s", met=ours / native <= 1.5 and gang <= 0.5,
             detail=f"{members} members released by the deferrable barrier (main-command "
                    f"start spread); native: TI start spread of {members} plain parallel "
                    f"tasks; gang mode spread {gang:.3f} s")
        _, _, stop_report = _run(airflow, spec("stop", False, "sleep 3", "sleep 600", False, 6))
        members_ = stop_report.groups["g"].members
        lead_end = members_["m0"].finished_at
        ours_stop = max(m.finished_at for m in members_.values()) - lead_end
        native_stop = rest_mark_failed(airflow)
        emit("airflow_lead_stop", groupplug=ours_stop, native=native_stop, unit="s",
             target="<= 5 s", met=ours_stop <= 5,
             detail="lead finished -> last of 5 members stopped (their finished_at); native: "
                    "PATCH a running task to failed -> its process gone")


def rest_mark_failed(airflow) -> float:
    """Native anchor: mark a running task failed through the REST API; seconds until it ends."""
    client = airflow.client()
    dag_id = "bench_native_stop"
    (airflow.dags_folder / f"{dag_id}.py").write_text(
        "from airflow.providers.standard.operators.bash import BashOperator\n"
        "from airflow.sdk import DAG\n"
        f"with DAG({dag_id!r}, schedule=None):\n"
        "    BashOperator(task_id='long', bash_command='sleep 600')\n")
    client.wait_for_dag(dag_id)
    client.trigger(dag_id, "bench")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = client.get(f"/api/v2/dags/{dag_id}/dagRuns/bench/taskInstances/long")["state"]
        if state == "running":
            break
        time.sleep(0.5)
    start = time.monotonic()
    client._request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/bench/taskInstances/long",
                    {"new_state": "failed"})
    while time.monotonic() < deadline:
        if client.dag_run(dag_id, "bench")["state"] in ("failed", "success"):
            break
        time.sleep(0.2)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["parse", "runtime", "native"])
    args = parser.parse_args()
    if args.only in (None, "parse"):
        parse_rows(2 if args.quick else 4)
    if args.only in (None, "runtime"):
        runtime_rows()
    if args.only in (None, "native"):
        from airflow_native import native_rows

        native_rows(rest_mark_failed)


if __name__ == "__main__":
    main()
