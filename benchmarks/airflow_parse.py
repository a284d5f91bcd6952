"""DagBag parse time of a 5,000-task DAG in 100 chained groups (10 x 10 nested), two ways.

Run in the Airflow environment: ``.venv-airflow/bin/python benchmarks/airflow_parse.py [N]``
(N repeats, median reported). Prints both numbers in plain words; the DAG sources and the timing
are the ones ``airflow_bench.py --only parse`` uses for the benchmark table, so the two agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_bench import GROUPPLUG_DAG, NATIVE_DAG, parse_seconds  # noqa: E402


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    ours = parse_seconds(GROUPPLUG_DAG, repeat)
    plain = parse_seconds(NATIVE_DAG.format(dag_id="parse_plain", join=False), repeat)
    print(f"groupplug (gate -> roots edges): {ours:.2f} s")
    print(f"plain TaskGroups, group >> group: {plain:.2f} s")
    print(f"ratio groupplug / plain: {ours / plain:.3f}")


if __name__ == "__main__":
    main()
