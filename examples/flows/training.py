"""OSMO-style distributed training as a Prefect flow: one lead, two workers, a barrier.

Each member pulls its image (setup), arrives at the barrier and starts training when the last
has arrived. The group runs as the subflow "train"; its state is the lead's. NOTE: when the lead
finishes, workers still running are stopped and take its state ("lead finished"): a lead that
finishes early stops the others.

Run: python examples/flows/training.py   (starts a temporary local Prefect server)
"""

from __future__ import annotations

from prefect import flow

from groupplug.prefect import group, member
from groupplug.prefect._server import PrefectServer

GPU = {"ngpu": 1, "walltime": "2h"}


@flow(name="train-job")
def training() -> str:
    with group("prepare") as prepare:
        member("download", "echo downloading shards; sleep 1")
    with group("train", lead="master", barrier_timeout=120, after=[prepare]) as train:
        member("master", "echo rank 0 training; sleep 3", setup="echo pull; sleep 1",
               directives=GPU)
        member("worker-1", "echo rank 1 training; sleep 600", setup="echo pull; sleep 2",
               directives=GPU)
        member("worker-2", "echo rank 2 training; sleep 600", setup="echo pull; sleep 3",
               directives=GPU)
    with group("evaluate", after=[train]) as evaluate:
        member("score", "echo scoring; sleep 1")
    for path, report in {**train.reports, **evaluate.reports}.items():
        print(path, report.state.value, {n: (m.state.value, m.reason)
                                         for n, m in report.members.items()})
    return evaluate.state.value


if __name__ == "__main__":
    with PrefectServer():
        raise SystemExit(0 if training() == "succeeded" else 1)
