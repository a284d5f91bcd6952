"""A DAG file for test_operators: run with ``python <file>`` it runs ``dag.test()`` and prints JSON.

Group ``solo`` has no barrier (so no deferral, which ``dag.test()`` cannot run reliably): the lead
``a`` finishes at once; ``b`` sleeps 5 s. ``dag.test()`` runs tasks one at a time in an order it
picks, so ``b`` is either stopped by the finished lead or has already finished on its own.
"""

import json
import sys

from airflow.sdk import DAG

from groupplug.airflow import group, member

LEAD_CMD = sys.argv[1] if len(sys.argv) > 1 else "true"

with DAG("groupplug_dagtest_lead_stop", schedule=None) as dag:
    with group("solo", lead="a", barrier=False):
        member("a", LEAD_CMD)
        member("b", "sleep 5")

if __name__ == "__main__":
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    query = XComModel.get_many(run_id=run.run_id, dag_ids=dag.dag_id,
                               task_ids="solo.__gate__", key="groupplug_status")
    with create_session() as session:
        row = session.scalars(query).first()
    status = XComModel.deserialize_value(row) if row is not None else None
    print("GROUPPLUG " + json.dumps({"run": str(run.state), "states": states, "status": status}))
