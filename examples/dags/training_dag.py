"""OSMO-style distributed training: one lead, two workers, a barrier (groupplug on Airflow).

Every member pulls its image (setup), then waits at the deferrable barrier (no worker slot
held); when the last has arrived, all start training together. The group's state is the
lead's. NOTE: when the lead (rank 0) finishes, workers still running are stopped and take its
state ("lead finished"): a lead that finishes early stops the others.
"""

from __future__ import annotations

from airflow.sdk import DAG

from groupplug.airflow import group, member

GPU = {"ngpu": 1, "memory": "16GB", "walltime": "2h"}

with DAG("groupplug_training", schedule=None, catchup=False, tags=["groupplug", "example"]):
    with group("prepare") as prepare:
        member("download", "echo downloading shards; sleep 1")
    with group("train", lead="master", barrier_timeout=120, tooltip="rank 0 leads") as train:
        member("master", "echo rank 0 training; sleep 3", setup="echo pull; sleep 1",
               directives=GPU)
        member("worker-1", "echo rank 1 training; sleep 600", setup="echo pull; sleep 2",
               directives=GPU)
        member("worker-2", "echo rank 2 training; sleep 600", setup="echo pull; sleep 3",
               directives=GPU)
    with group("evaluate") as evaluate:
        member("score", "echo scoring; sleep 1")
    prepare >> train >> evaluate
