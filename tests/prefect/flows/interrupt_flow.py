"""A flow to interrupt: a lead that trains in a loop, two workers blocked in a C call."""

import os
import time
from pathlib import Path

from prefect import flow, task

from groupplug.prefect import group

MARKS = Path(os.environ.get("GROUPPLUG_TEST_MARKS", "."))


@task
def master():
    (MARKS / "master").touch()
    for _ in range(3000):  # a training loop: Python runs between steps
        time.sleep(0.1)


@task
def worker(rank: int):
    (MARKS / f"worker-{rank}").touch()
    time.sleep(300)  # blocked in C: only its process can be stopped


@flow
def interrupted():
    with group("train", lead="master"):
        for rank in (1, 2):
            worker.submit(rank)
        master()
