"""Airflow barrier facts for the issue note: release spread for 3 members, and the worker
slots held while members wait at the barrier (TI states sampled every 0.5 s while it waits).

    .venv-airflow/bin/python benchmarks/airflow_barrier_probe.py
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import spread  # noqa: E402


def main() -> None:
    from groupplug.airflow import runner
    from groupplug.airflow._server import EmbeddedAirflow
    from groupplug.loader import loads_workflow

    workflow = loads_workflow(
        "workflow:\n  name: probe\n  groups:\n  - name: g\n    tasks:\n"
        "    - {name: lead, lead: true, setup: 'sleep 1', command: 'sleep 1'}\n"
        "    - {name: w1, setup: 'sleep 2', command: 'sleep 1'}\n"
        "    - {name: slow, setup: 'sleep 20', command: 'sleep 1'}\n")
    with EmbeddedAirflow() as airflow:
        client = airflow.client()
        dag_id = runner.dag_id_for(workflow)
        runner.write_dag(airflow, workflow, dag_id, [])
        client.wait_for_dag(dag_id)
        client.trigger(dag_id, "probe")
        samples: list[Counter[str]] = []
        while client.dag_run(dag_id, "probe")["state"] not in ("success", "failed"):
            tis = {t["task_id"]: t["state"] for t in client.task_instances(dag_id, "probe")}
            if tis.get("g.w1__setup") == "success" and tis.get("g.slow__setup") == "running":
                samples.append(Counter(s for s in tis.values() if s))
            time.sleep(0.5)
        report = runner.read_report(client, workflow, dag_id, "probe", [])
    members = report.groups["g"].members.values()
    print(f"release spread (3 members): {spread([m.started_at for m in members]):.3f} s")
    print(f"samples while waiting: {len(samples)}")
    running = [c.get("running", 0) for c in samples]
    deferred = [c.get("deferred", 0) for c in samples]
    print(f"running task instances while waiting: max {max(running, default=0)} "
          f"(the slow member's setup); barrier deferred in {sum(1 for d in deferred if d)} "
          f"of {len(samples)} samples")


if __name__ == "__main__":
    main()
