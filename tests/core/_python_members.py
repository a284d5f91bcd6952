"""Module-level member callables for the local engine's Python-member tests (spawned processes
import this module, so it stays light)."""

from __future__ import annotations

import os
import time


def answer() -> dict[str, int]:
    print("computing the answer")
    return {"answer": 42}


def not_json() -> object:
    return {1, 2}


def lead_after_one_second() -> str:
    time.sleep(1)
    return "done"


def blocked_in_c() -> None:
    open(os.environ["GROUPPLUG_TEST_PIDFILE"], "w").write(str(os.getpid()))
    time.sleep(600)  # a C call: only a process stop ends it early


def busy_loop() -> None:
    while True:
        pass


def broken() -> None:
    raise ValueError("bad input shard 3")


def slow_setup() -> None:
    time.sleep(1)
