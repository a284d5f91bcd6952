"""OSMO-style distributed training with Prefect ``@task``s: one lead, two workers, a barrier.

Every task run started inside ``with group("train", lead="master")`` is a member. Each member
pulls its image first (``setup=``), then arrives at the barrier; training starts when every
member has arrived. The group is a run of its own in Prefect's UI named "train", tagged
``group:train``, with a roll-up artifact.

NOTE: when the lead (``master``) finishes, every member still running is stopped and takes the
lead's state, with ``lead finished`` as its Prefect state message: a lead that finishes early
stops the others. Here the workers would train forever; the master's end stops them. Sync
members run in a process of their own, so even a member blocked in C (``time.sleep``) stops.

Run it:  groupplug run examples/flows/training.py:training --engine prefect
     or: python examples/flows/training.py   (starts a temporary local Prefect server)
"""

from __future__ import annotations

import time

from prefect import flow, task

from groupplug.prefect import group


@task
def download_shards() -> list[str]:
    return [f"shard-{i}" for i in range(4)]


def pull_image() -> None:
    time.sleep(0.5)  # the image pull every member does before the barrier


@task
def master(shards: list[str]) -> float:
    time.sleep(3)  # rank 0 trains, checkpoints, and is done
    return 0.93


@task
def worker(rank: int, shards: list[str]) -> None:
    while True:  # a worker trains until the master says the job is over
        time.sleep(1)


@task
def score(accuracy: float) -> str:
    return f"accuracy {accuracy:.2f}"


@flow(name="train-job")
def training() -> str:
    with group("prepare"):
        shards = download_shards()
    with group("train", lead="master", barrier_timeout=120,
               setup={"master": pull_image, "worker": pull_image}) as train:
        for rank in (1, 2):
            worker.submit(rank, shards)  # members worker[0], worker[1]
        accuracy = master(shards)  # the lead: its end stops both workers
    with group("evaluate", after=[train]):
        summary = score(accuracy)
    for name, member in train.report.members.items():
        print(f"train.{name}: {member.state.value} {member.reason}".rstrip())
    return summary


if __name__ == "__main__":
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        print(training())
