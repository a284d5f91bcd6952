"""signac-style FlowGroups: one task in two groups, with group-specific directives.

``simulate`` asks for 1 GPU; run through the group ``ex`` it asks for 2 (the group's value
replaces the task's). Directives become Airflow operator arguments: ngpu/np/memory ->
``resources``, walltime -> ``execution_timeout``; pool, queue, ... pass through.
"""

from __future__ import annotations

from airflow.sdk import DAG

from groupplug.airflow import group, member

with DAG("groupplug_directives", schedule=None, catchup=False, tags=["groupplug", "example"]):
    with group("project"):
        with group("ex", barrier=False, lead="plot", directives={"simulate": {"ngpu": 2}}):
            member("simulate", "echo simulating; sleep 1",
                   directives={"ngpu": 1, "np": 4, "memory": "8GB", "walltime": "1h"})
            member("plot", "echo plotting; sleep 2", directives={"np": 1, "walltime": "15m"})
        with group("nightly", upstream=["ex"], barrier=False, lead="report"):
            member("simulate")  # the same task again, with its own ngpu: 1 in this group
            member("report", "echo nightly report; sleep 2", directives={"queue": "default"})
