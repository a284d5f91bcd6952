"""Prefect rows (.venv-prefect): overhead of 1,000 tasks in 10 groups (shell and native
``@task`` members), barrier release spread, a native lead stopping blocked members, and
``groupplug run`` on a one-task workflow minus the server's start."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
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


def _task_runs(flow_run_id: str) -> dict[str, dict]:
    from groupplug.prefect.runner import run_records

    return {r["name"]: r for r in run_records(flow_run_id) if "task_key" in r}


def _end(record: dict) -> float:
    return datetime.fromisoformat(record["end_time"].replace("Z", "+00:00")).timestamp()


def native_lead_stop_row(repeat: int) -> None:
    """A ``@task`` lead ending after 3 s stops four sync members in ``time.sleep(300)`` and
    two async members in ``asyncio.sleep(300)``: seconds from its end to the last member's."""
    import asyncio

    from prefect import flow, task

    from groupplug.prefect import group

    @task
    def lead() -> None:
        time.sleep(3)

    @task
    def blocked() -> None:
        time.sleep(300)  # a blocking C call: only stopping its process ends it

    @task
    async def waiting() -> None:
        await asyncio.sleep(300)

    @flow(name="lead-stop")
    def lead_stop() -> None:
        with group("lead-stop", lead="lead"):
            for _ in range(4):
                blocked.submit()
            for _ in range(2):
                waiting.submit()
            lead()

    lags = []
    for _ in range(repeat):
        state = lead_stop(return_state=True)
        runs = _task_runs(str(state.state_details.flow_run_id))
        members = {n: r for n, r in runs.items() if n.startswith("lead-stop.")}
        lead_end = _end(members.pop("lead-stop.lead"))
        if len(members) != 6 or any(r["state"]["message"] != "lead finished"
                                    for r in members.values()):
            raise RuntimeError(f"members not stopped by the lead: {members}")
        lags.append(max(_end(r) for r in members.values()) - lead_end)
    lag = statistics.median(lags)
    emit("prefect_native_lead_stop", groupplug=lag, native=None, unit="s",
         target="<= 1 s", met=lag <= 1.0,
         detail=f"@task lead ends after 3 s; 4 sync members in time.sleep(300) (each in a "
                f"process of its own, the default) and 2 async in asyncio.sleep(300): lead's "
                f"end to the last member's end (task run end times in the API), median of "
                f"{repeat}: {', '.join(f'{x:.2f}' for x in lags)} s; native Prefect has no "
                "way to stop them (they run 300 s)")


def native_overhead_row(repeat: int) -> None:
    """1,000 trivial ``@task`` calls in 10 groups vs in 10 plain subflows, same runner."""
    from prefect import flow, task
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    from groupplug.prefect import group

    @task
    def trivial(i: int) -> int:
        return i

    @task
    def collect(parts: list[int]) -> int:
        return sum(parts)

    def body() -> int:
        return collect([trivial.submit(i) for i in range(PER_GROUP - 1)])

    def in_groups(isolate: str | None) -> None:
        @flow(name="native-groups", task_runner=ThreadPoolTaskRunner(max_workers=16))
        def groups() -> None:
            for g in range(GROUPS):
                with group(f"g{g}", lead="collect", barrier=False, isolate=isolate):
                    body()
        groups()

    @flow(name="plain-subflows", task_runner=ThreadPoolTaskRunner(max_workers=16))
    def plain() -> None:
        for g in range(GROUPS):
            flow(name=f"g{g}", task_runner=ThreadPoolTaskRunner(max_workers=16))(body)()

    def timed(fn, *args) -> float:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start

    with temporary_settings(restore_defaults={PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        runs = [(timed(in_groups, None), timed(in_groups, "thread"), timed(plain))
                for _ in range(repeat)]
    ours, threads, native = (statistics.median(r[i] for r in runs) for i in range(3))
    emit("prefect_native_overhead_1000", groupplug=ours, native=native, unit="s",
         target="ratio <= 1.10", met=ours / native <= 1.10,
         detail=f"{GROUPS} groups x {PER_GROUP} trivial @task calls (99 submitted, a lead "
                f"collecting them) vs the same in {GROUPS} plain subflows, thread pool of 16; "
                f"members in processes (the default, stoppable in C calls); with "
                f"isolate='thread' {threads:.2f} s (ratio {threads / native:.2f}); "
                f"median of {repeat}")


ONE_TASK = ("workflow:\n  name: one\n  groups:\n    - name: solo\n      tasks:\n"
            "        - {name: hello, command: 'echo hello'}\n")
NATIVE_ONE_TASK = """\
import subprocess
from prefect import flow, task

@task
def hello():
    return subprocess.run(["sh", "-c", "echo hello"], check=True).returncode

@flow(name="one")
def one():
    hello()

one()
"""
_STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "


def _stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def cli_once(folder: Path) -> tuple[float, float, float]:
    """``groupplug -vv run one.yaml --engine prefect --json`` in a fresh process: (wall minus
    the server's start, the server's start, seconds from the top flow run's end to exit).
    ``-vv``: Prefect's run log lines on stderr too (``-v`` leaves them in the log file)."""
    spec = folder / "one.yaml"
    spec.write_text(ONE_TASK)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    began = time.monotonic()
    result = subprocess.run([str(Path(sys.executable).with_name("groupplug")), "-vv", "run",
                             str(spec), "--engine", "prefect", "--json"],
                            capture_output=True, text=True, env=env, timeout=600)
    wall, ended = time.monotonic() - began, time.time()
    if result.returncode != 0:
        raise RuntimeError(f"groupplug run failed ({result.returncode}): {result.stderr[-2000:]}")
    server = float(re.search(r"prefect server at \S+ in ([\d.]+)s", result.stderr)[1])
    finished = [line for line in result.stderr.splitlines()
                if re.match(_STAMP + r"prefect\.flow_runs INFO Finished in state", line)]
    return wall - server, server, ended - _stamp(finished[-1])


def native_once(folder: Path) -> float:
    """The same one-task flow as plain Prefect in a fresh process, on an already running
    server (PREFECT_API_URL set by the caller): the process's wall time."""
    script = folder / "native_one.py"
    script.write_text(NATIVE_ONE_TASK)
    began = time.monotonic()
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=600)
    return time.monotonic() - began


def cli_row(repeat: int) -> None:
    from groupplug.prefect._server import PrefectServer

    with tempfile.TemporaryDirectory() as tmp:
        runs = [cli_once(Path(tmp)) for _ in range(repeat)]
        with PrefectServer():
            native = statistics.median(native_once(Path(tmp)) for _ in range(repeat))
    ours = statistics.median(r[0] for r in runs)
    server = statistics.median(r[1] for r in runs)
    exit_lag = max(r[2] for r in runs)
    emit("prefect_cli_trivial", groupplug=ours, native=native, unit="s",
         target="<= 5 s", met=ours <= 5.0,
         detail=f"groupplug run on a one-task YAML workflow (--engine prefect, fresh process, "
                f"its own server): wall time minus the server's start ({server:.1f} s), median "
                f"of {repeat}; exit at most {exit_lag:.1f} s after the top flow run's last log "
                "line; native: the same one-task @flow in a fresh python process on a running "
                "server")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["barrier", "overhead", "cli", "native"])
    args = parser.parse_args()
    from groupplug.prefect._server import PrefectServer

    if args.only in (None, "cli"):
        cli_row(1 if args.quick else 3)
    if args.only == "cli":
        return
    with PrefectServer():
        if args.only in (None, "barrier"):
            barrier_row(2 if args.quick else 3)
        if args.only in (None, "overhead"):
            overhead_row(1 if args.quick else 3)
        if args.only in (None, "native"):
            native_lead_stop_row(3)
            native_overhead_row(1 if args.quick else 3)


if __name__ == "__main__":
    main()
