"""Prefect rows: overhead of 1,000 tasks in 10 groups, barrier release spread (.venv-prefect)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, spread  # noqa: E402

GROUPS, PER_GROUP = 10, 100


def overhead_row(repeat: int) -> None:
    from prefect import flow, task
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    from groupplug.loader import loads_workflow
    from groupplug.prefect.group_flow import RunOptions, run_groups

    groups = "\n".join(
        f"  - name: g{g}\n    barrier: false\n    tasks:\n" + "\n".join(
            f"    - {{name: t{g}-{t}{', lead: true' if t == PER_GROUP - 1 else ''}, "
            "command: 'true'}" for t in range(PER_GROUP)) for g in range(GROUPS))
    workflow = loads_workflow(f"workflow:\n  name: overhead\n  groups:\n{groups}\n")

    @flow(name="groupplug-overhead")
    def ours() -> None:
        report = run_groups(workflow, RunOptions(publish=False))
        assert report.state == "succeeded", report.to_json()

    @task
    def trivial() -> int:
        return subprocess.run(["sh", "-c", "true"], check=True).returncode

    def subflow() -> None:
        futures = [trivial.submit() for _ in range(PER_GROUP)]
        for f in futures:
            f.result()

    @flow(name="native-overhead")
    def native() -> None:
        for g in range(GROUPS):
            flow(name=f"g{g}", task_runner=ThreadPoolTaskRunner(max_workers=PER_GROUP))(subflow)()

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    with temporary_settings(restore_defaults={PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        pairs = [(timed(ours), timed(native)) for _ in range(repeat)]
    ours_s = statistics.median(p[0] for p in pairs)
    native_s = statistics.median(p[1] for p in pairs)
    emit("prefect_overhead_1000", groupplug=ours_s, native=native_s, unit="s",
         target="ratio <= 1.15", met=ours_s / native_s <= 1.15,
         detail=f"{GROUPS} groups x {PER_GROUP} shell members 'true' (thread pool) vs "
                f"{GROUPS} plain subflows of {PER_GROUP} tasks running 'true'; median of {repeat}")


def barrier_row(repeat: int, members: int = 8) -> None:
    from distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from groupplug.loader import loads_workflow
    from groupplug.prefect.runner import _run

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from core_bench import thread_barrier_spread

    tasks = "\n".join(f"    - {{name: m{i}{', lead: true' if i == 0 else ''}, "
                      f"setup: 'sleep 0.{i}', command: 'sleep 1'}}" for i in range(members))
    workflow = loads_workflow(f"workflow:\n  name: spread\n  groups:\n  - name: g\n"
                              f"    tasks:\n{tasks}\n")

    def measure(options: dict) -> float:
        spreads = []
        for _ in range(repeat):
            report = _run(workflow, [], {"server": "current", **options})
            spreads.append(spread([m.started_at for m in report.groups["g"].members.values()]))
        return statistics.median(spreads)

    threads = measure({})
    cluster = LocalCluster(n_workers=4, threads_per_worker=2, processes=True,
                           dashboard_address=None, host="127.0.0.1")
    try:
        dask = measure({"channel": "variables", "task_runner":
                        lambda n: DaskTaskRunner(address=cluster.scheduler_address)})
    finally:
        cluster.close()
    native = thread_barrier_spread(members)
    emit("prefect_barrier_spread", groupplug=threads, native=native, unit="s",
         target="<= 0.1 s threads, <= 0.5 s Dask", met=threads <= 0.1 and dask <= 0.5,
         detail=f"{members} members; threads {threads:.3f} s, Dask 4 processes {dask:.3f} s "
                f"(Prefect Variables channel); native: threading.Barrier in one process")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["barrier", "overhead"])
    args = parser.parse_args()
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        if args.only in (None, "barrier"):
            barrier_row(2 if args.quick else 3)
        if args.only in (None, "overhead"):
            overhead_row(1 if args.quick else 3)


if __name__ == "__main__":
    main()
