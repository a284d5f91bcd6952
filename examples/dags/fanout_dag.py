"""A fan-out group: a mapped ``@task`` (``.expand()``) whose every instance is a member.

``list_shards`` is an ordinary task outside any group (a singleton group in the report).
``process.expand(shard=...)`` runs one instance per shard at run time; each is a member of the
group, reported as ``process[0]``, ``process[1]``, ... . A mapped task cannot be the lead (how
many instances there are is only known at run time), so the lead is ``merge``, the fan-in that
runs when every shard is done; its state is the group's. There is no barrier: the shards do not
need to start together.

Run it: ``groupplug run examples/dags/fanout_dag.py --engine airflow``.
"""

from __future__ import annotations

import time

from airflow.sdk import DAG, task

from groupplug.airflow import group


@task
def list_shards() -> list[int]:
    return [0, 1, 2, 3]


@task
def process(shard: int) -> int:
    time.sleep(1)
    return shard * shard


@task
def merge(squares: list[int]) -> int:
    return sum(squares)


with DAG("groupplug_fanout", schedule=None, catchup=False, tags=["groupplug", "example"]):
    shards = list_shards()
    with group("fan-out", lead="merge", barrier=False):
        merge(process.expand(shard=shards))  # shards feeds the group: that is its edge
