"""A Flyte-style pipeline: nested groups of direct ``@task`` calls whose results flow on.

As in Flyte 2's ``with flyte.group(...)``, a direct call inside a group returns its result at
once (``raw = clean()``; ``train_set, test_set = split(raw)``). Each group is a run of its own
in Prefect's UI, nested like the code; a parent group ("ml-pipeline", "model-experiments")
holds only groups, and its state and roll-up artifact sum its children's.

Run it:  groupplug run examples/flows/nested_pipeline.py:pipeline --engine prefect
     or: python examples/flows/nested_pipeline.py
"""

from __future__ import annotations

from prefect import flow, task

from groupplug.prefect import group


@task
def clean() -> list[float]:
    return [0.1 * i for i in range(100)]


@task
def split(rows: list[float]) -> tuple[list[float], list[float]]:
    return rows[:80], rows[80:]


@task
def tune(learning_rate: float, rows: list[float]) -> float:
    return abs(learning_rate - 0.01) + len(rows) * 1e-4


@task
def pick(scores: dict[float, float]) -> float:
    return min(scores, key=scores.__getitem__)


@task
def fit(rows: list[float], learning_rate: float) -> dict[str, float]:
    return {"learning_rate": learning_rate, "weight": sum(rows) / len(rows)}


@task
def evaluate(model: dict[str, float], rows: list[float]) -> float:
    return round(1 - abs(model["weight"] - sum(rows) / len(rows)) / 10, 3)


@flow(name="ml-pipeline")
def pipeline() -> float:
    with group("ml-pipeline"):
        with group("data-preparation", lead="split", barrier=False):
            raw = clean()
            train_set, test_set = split(raw)
        with group("model-experiments"):
            with group("hyperparameter-tuning", lead="pick", barrier=False):
                rates = (0.1, 0.01, 0.001)
                scores = {lr: tune(lr, train_set) for lr in rates}  # tune[0], tune[1], tune[2]
                best = pick(scores)
            with group("model-training", lead="fit"):
                model = fit(train_set, best)
        with group("evaluation", lead="evaluate"):
            accuracy = evaluate(model, test_set)
    return accuracy


if __name__ == "__main__":
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        print("accuracy", pipeline())
