"""Core rows: status-engine throughput, validation cost, local barrier spread (.venv)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, median_time, spread  # noqa: E402

from groupplug.loader import loads_workflow  # noqa: E402
from groupplug.spec import Group, Task  # noqa: E402
from groupplug.status import Event, EventKind, GroupEngine  # noqa: E402


def status_events(members: int = 10_000, repeat: int = 3) -> None:
    group = Group("big", tuple(Task(f"m{i}", "true", lead=(i == 0)) for i in range(members)),
                  barrier=True)
    rates = []
    for _ in range(repeat):
        engine = GroupEngine.from_group(group)
        names = [t.name for t in group.tasks]
        start = time.perf_counter()
        count = 0
        for kind in (EventKind.SETUP_STARTED, EventKind.ARRIVED, EventKind.STARTED):
            for name in names:
                engine.apply(Event(kind, name))
                count += 1
        for name in names[1:]:
            engine.apply(Event(EventKind.SUCCEEDED, name))
            count += 1
        engine.apply(Event(EventKind.SUCCEEDED, names[0]))
        rates.append((count + 1) / (time.perf_counter() - start))
    rate = statistics.median(rates)
    emit("core_status_events", groupplug=rate, native=None, unit="events/s",
         target=">= 200000 events/s", met=rate >= 200_000,
         detail=f"{members} members, setup/arrive/start/finish each, median of {repeat}")


def big_yaml(tasks: int = 10_000) -> str:
    lines = ["workflow:", "  name: big", "  groups:"]
    per_group = 100
    for g in range(tasks // per_group):
        lines += [f"  - name: g{g}", "    barrier: false"]
        if g:
            lines.append(f"    upstream: [g{g - 1}]")
        lines.append("    tasks:")
        for t in range(per_group):
            lead = ", lead: true" if t == 0 else ""
            lines.append(f"    - {{name: t{g}-{t}{lead}, command: 'echo {t}', "
                         "directives: {ngpu: 1, memory: 4GB, walltime: 1h}}")
    return "\n".join(lines) + "\n"


def validate_10k(repeat: int) -> None:
    text = big_yaml()
    ours = median_time(lambda: loads_workflow(text), repeat)
    native = median_time(lambda: yaml.safe_load(text), max(repeat - 1, 1))
    emit("core_validate_10k", groupplug=ours, native=native, unit="s", target="ratio <= 3",
         met=ours / native <= 3, detail="load + validate (C YAML parser) vs yaml.safe_load")


def local_barrier_spread(members: int = 8, repeat: int = 3) -> None:
    from groupplug.runner import LocalRunner

    spreads = []
    for _ in range(repeat):
        tasks = "\n".join(
            f"    - {{name: m{i}{', lead: true' if i == 0 else ''}, setup: 'sleep 0.{i}', "
            "command: 'sleep 1'}" for i in range(members))
        spec = loads_workflow(f"workflow:\n  name: b\n  groups:\n  - name: g\n    tasks:\n"
                              f"{tasks}\n")
        with tempfile.TemporaryDirectory() as logs:
            report = LocalRunner(spec, log_dir=logs).run()
        spreads.append(spread([m.started_at for m in report.groups["g"].members.values()]))
    ours = statistics.median(spreads)
    emit("local_barrier_spread", groupplug=ours, native=thread_barrier_spread(members),
         unit="s", target="<= 0.05 s", met=ours <= 0.05,
         detail=f"{members} members, main-work start spread, median of {repeat}")


def thread_barrier_spread(members: int = 8, repeat: int = 5) -> float:
    """The in-process limit: threads released by ``threading.Barrier``."""
    results = []
    for _ in range(repeat):
        barrier = threading.Barrier(members)
        starts: list[float] = []

        def member(delay: float, barrier=barrier, starts=starts) -> None:
            time.sleep(delay)
            barrier.wait()
            starts.append(time.time())

        threads = [threading.Thread(target=member, args=(i / 100,)) for i in range(members)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results.append(spread(starts))
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else 5
    status_events(repeat=repeat)
    validate_10k(repeat)
    local_barrier_spread(repeat=repeat)


if __name__ == "__main__":
    main()
