"""A mixed group: a ``@task`` lead, a deferrable sensor and a ``BashOperator`` as members.

``wait_for_window`` is a deferrable ``TimeDeltaSensor``: it hands its wait to the triggerer and
holds no worker slot. ``stream_logs`` is a ``BashOperator``. Neither would end on its own for a
long time; when the lead ``publish`` finishes they are stopped (the sensor's trigger is ended,
the shell's process is killed) and take the lead's state with the reason ``lead finished``.

Run it: ``groupplug run examples/dags/mixed_dag.py --engine airflow``.
"""

from __future__ import annotations

import time
from datetime import timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, task

from groupplug.airflow import group


@task
def publish() -> str:
    time.sleep(3)
    return "published"


with DAG("groupplug_mixed", schedule=None, catchup=False, tags=["groupplug", "example"]):
    with group("release", lead="publish", barrier=False):
        publish()
        TimeDeltaSensor(task_id="wait_for_window", delta=timedelta(hours=1), deferrable=True)
        BashOperator(task_id="stream_logs", bash_command="echo streaming; sleep 600")
