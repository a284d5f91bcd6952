"""Flyte-style nested groups: folders of tasks with a rolled-up status (groupplug on Airflow).

A parent group only holds groups; the status view rolls its state up from its children
(failed if any failed, running while any runs, succeeded when all did).
"""

from __future__ import annotations

from airflow.sdk import DAG

from groupplug.airflow import group, member

with DAG("groupplug_nested_pipeline", schedule=None, catchup=False,
         tags=["groupplug", "example"]):
    with group("machine-learning-pipeline"):
        with group("data-preparation", barrier=False, lead="split-dataset"):
            member("clean-data", "echo cleaning; sleep 1")
            member("split-dataset", "echo splitting; sleep 1", inputs=["clean-data"])
        with group("model-experiments", upstream=["data-preparation"]):
            with group("hyperparameter-tuning", barrier=False, lead="tune-lr"):
                member("tune-lr", "echo tuning lr; sleep 2")
                member("tune-depth", "echo tuning depth; sleep 1")
            with group("model-training", upstream=["hyperparameter-tuning"]):
                member("train-final-model", "echo training; sleep 1")
