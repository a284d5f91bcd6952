"""OSMO-style distributed training with TaskFlow: ``@task`` members, one lead, a barrier.

Every rank warms up (its *setup*: here a Python callable run before the barrier, in a task of
its own, ``rank1__setup``), then waits at the deferrable barrier (no worker slot held); when the
last rank has arrived, all start training together. The group's state is the lead's.

NOTE: a lead that finishes stops the others. When ``rank0`` returns, ranks still training are
stopped where they run (here: in ``time.sleep``) and end in rank 0's state with the reason
``lead finished``. Make the lead the task whose end means the group's work is done.

Run it: ``groupplug run examples/dags/native_training_dag.py --engine airflow``.
"""

from __future__ import annotations

import time

from airflow.sdk import DAG, task

from groupplug.airflow import group


def warm_up() -> None:
    """Before the barrier: download shards, pull an image, compile kernels..."""
    time.sleep(1)


@task
def download() -> str:
    return "s3://bucket/shards"


@task
def train(rank: int) -> dict[str, float]:
    # rank 0 leads: it converges after 3 s; the others would run until told to stop.
    time.sleep(3 if rank == 0 else 600)
    return {"rank": rank, "loss": 0.12}


@task
def score() -> float:
    return 0.93


with DAG("groupplug_native_training", schedule=None, catchup=False,
         tags=["groupplug", "example"]):
    with group("prepare") as prepare:
        download()
    ranks = [f"rank{r}" for r in range(3)]
    with group("train", lead="rank0", barrier_timeout=300, tooltip="rank 0 leads",
               setup=dict.fromkeys(ranks, warm_up)) as training:
        for rank in range(3):
            train.override(task_id=f"rank{rank}")(rank)
    with group("evaluate") as evaluate:
        score()
    prepare >> training >> evaluate
