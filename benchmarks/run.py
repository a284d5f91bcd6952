"""Run every benchmark in the environment it needs and print one table (or one JSON object).

    python benchmarks/run.py [--quick] [--json] [--only core|airflow|prefect|stack]

Each row compares groupplug with the native way in the same run and prints the ratio, the
target and whether it is met. The environments are the ones ``scripts/envs`` builds:
``.venv`` (core), ``.venv-airflow``, ``.venv-prefect``. A missing one makes its rows say so.
The ``stack`` rows (``scripts/stack``: PostgreSQL, Celery, Dask) run only with ``--only stack``:
they start the whole stack and take ~20 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "core": (".venv", "core_bench.py", ["core_status_events", "core_validate_10k",
                                       "local_barrier_spread"]),
    "airflow": (".venv-airflow", "airflow_bench.py", ["airflow_parse_5000",
                                                     "airflow_parse_vs_join",
                                                     "airflow_barrier_spread_20",
                                                     "airflow_lead_stop",
                                                     "airflow_native_lead_stop",
                                                     "airflow_api_load_20",
                                                     "airflow_api_load_40"]),
    "prefect": (".venv-prefect", "prefect_bench.py", ["prefect_overhead_1000",
                                                     "prefect_barrier_spread",
                                                     "prefect_cli_trivial",
                                                     "prefect_native_lead_stop",
                                                     "prefect_native_overhead_1000"]),
    "stack": (".venv-airflow", "stack_bench.py", ["stack_faults", "stack_load_10x10",
                                                 "stack_load_10x10_setups"]),
}
ORDER = ["airflow_parse_5000", "airflow_parse_vs_join", "airflow_barrier_spread_20",
         "airflow_lead_stop", "airflow_native_lead_stop", "airflow_api_load_20",
         "airflow_api_load_40", "prefect_overhead_1000", "prefect_barrier_spread",
         "prefect_cli_trivial", "prefect_native_lead_stop", "prefect_native_overhead_1000",
         "local_barrier_spread", "core_status_events", "core_validate_10k", "stack_faults",
         "stack_load_10x10", "stack_load_10x10_setups"]


def run_suite(name: str, quick: bool) -> dict[str, dict]:
    venv, module, rows = SUITES[name]
    python = ROOT / venv / "bin" / "python"
    missing = {"groupplug": None, "native": None, "ratio": None, "unit": "", "target": "",
               "met": False}
    if not python.exists():
        return {r: {**missing, "detail": f"env missing: run scripts/envs {name}"} for r in rows}
    command = [str(python), str(ROOT / "benchmarks" / module)] + (["--quick"] if quick else [])
    began = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            row = json.loads(line[len("RESULT "):])
            found[row.pop("name")] = row
    for row in rows:
        if row not in found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            found[row] = {**missing, "detail": f"not measured (exit {result.returncode}): "
                                               f"{tail[0][:200]}"}
    print(f"{name}: {time.monotonic() - began:.0f}s", file=sys.stderr)
    return found


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "events/s":
        return f"{value:,.0f}/s"
    return f"{value:.3f} {unit}".strip()


def table(results: dict[str, dict]) -> str:
    lines = ["| benchmark | groupplug | native | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name in results:
        r = results[name]
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        lines.append(f"| `{name}` | {fmt(r['groupplug'], r['unit'])} | "
                     f"{fmt(r['native'], r['unit'])} | {ratio} | {r['target']} | "
                     f"{'yes' if r['met'] else 'NO'} |")
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, " \
              f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    notes = [f"- `{n}`: {r['detail']}" for n, r in results.items() if r.get("detail")]
    return "\n".join([*lines, "", f"Machine: {machine}", "", *notes])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (< 10 min)")
    parser.add_argument("--json", action="store_true", help="one JSON object, keyed by row")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for suite in args.only or ["core", "prefect", "airflow"]:
        results.update(run_suite(suite, args.quick))
    shown = {n: results[n] for n in ORDER if n in results}
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        print(table(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
