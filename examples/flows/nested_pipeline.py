"""Flyte-style nested groups as nested Prefect subflows, with a rolled-up status.

Run: python examples/flows/nested_pipeline.py
"""

from __future__ import annotations

from prefect import flow

from groupplug.prefect import group, member
from groupplug.prefect._server import PrefectServer


@flow(name="ml-pipeline")
def pipeline() -> str:
    with group("machine-learning-pipeline") as ml:
        with group("data-preparation", barrier=False, lead="split-dataset"):
            member("clean-data", "echo cleaning; sleep 1")
            member("split-dataset", "echo splitting; sleep 1", inputs=["clean-data"])
        with group("model-experiments", upstream=["data-preparation"]):
            with group("hyperparameter-tuning", barrier=False, lead="tune-lr"):
                member("tune-lr", "echo tuning lr; sleep 2")
                member("tune-depth", "echo tuning depth; sleep 1")
            with group("model-training", upstream=["hyperparameter-tuning"]):
                member("train-final-model", "echo training; sleep 1")
    for path, report in ml.reports.items():
        print(path, report.state.value)
    return ml.state.value


if __name__ == "__main__":
    with PrefectServer():
        raise SystemExit(0 if pipeline() == "succeeded" else 1)
