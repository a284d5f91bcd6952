"""A fan-out group: ``.map()`` over shards, one lead that merges them, and a progress monitor.

Each mapped task run is a member (``process[0]`` ... ``process[7]``); ``merge`` is the lead and
waits on the mapped futures. The monitor would report forever: the lead's end stops it (state
Completed, message ``lead finished``).

Run it:  groupplug run examples/flows/fan_out.py:fan_out --engine prefect
     or: python examples/flows/fan_out.py
"""

from __future__ import annotations

import time

from prefect import flow, task

from groupplug.prefect import group


@task
def process(shard: int) -> int:
    time.sleep(0.2)
    return shard * shard


@task
def merge(parts: list[int]) -> int:
    return sum(parts)


@task
def monitor() -> None:
    while True:
        time.sleep(1)  # progress reporting, until the lead ends


@flow(name="fan-out")
def fan_out() -> int:
    with group("squares", lead="merge", barrier=False) as squares:
        monitor.submit()
        parts = process.map(range(8))
        total = merge(parts)  # waits on every mapped run
    print({name: m.state.value for name, m in squares.report.members.items()})
    return total


if __name__ == "__main__":
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        print("total", fan_out())
