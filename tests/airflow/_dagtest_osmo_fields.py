"""A DAG file for test_osmo_fields: ``python <file>`` runs two DAGs by ``dag.test()``; JSON out.

``groupplug_osmo_fields`` is :func:`tests.core.osmo_fields.workflow` rendered whole;
``groupplug_osmo_fields_read`` renders only its ``read`` group, whose input never ran.
"""

import json

from groupplug.airflow import render_workflow
from groupplug.launch import engine_run_dir
from tests.core import osmo_fields

full = render_workflow(osmo_fields.workflow(), "groupplug_osmo_fields")
read_only = render_workflow(osmo_fields.workflow(), "groupplug_osmo_fields_read",
                            selected=["read"])

if __name__ == "__main__":
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    result = {}
    for dag in (full, read_only):
        run = dag.test()
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        query = XComModel.get_many(run_id=run.run_id, dag_ids=dag.dag_id,
                                   task_ids="read", key="groupplug_member")
        with create_session() as session:
            row = session.scalars(query).first()
        record = XComModel.deserialize_value(row) if row is not None else None
        result[dag.dag_id] = {"run": str(run.state), "states": states, "read": record,
                              "run_dir": str(engine_run_dir("airflow", dag.dag_id, run.run_id))}
    print("GROUPPLUG " + json.dumps(result))
