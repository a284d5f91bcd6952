"""An async group: ``async`` tasks awaited and gathered inside ``async with group(...)``.

The loaders are gathered, the lead trains on what they return, and a heartbeat task would run
forever: when the lead ends the heartbeat is cancelled (its task run ends Completed with the
message ``lead finished``).

Run it:  groupplug run examples/flows/async_group.py:async_training --engine prefect
     or: python examples/flows/async_group.py
"""

from __future__ import annotations

import asyncio

from prefect import flow, task

from groupplug.prefect import group


@task
async def load(part: int) -> list[int]:
    await asyncio.sleep(0.2)
    return list(range(part * 10, part * 10 + 10))


@task
async def heartbeat() -> None:
    while True:
        await asyncio.sleep(1)


@task
async def train(parts: list[list[int]]) -> int:
    await asyncio.sleep(1)
    return sum(map(sum, parts))


@flow(name="async-training")
async def async_training() -> int:
    async with group("train", lead="train", barrier=False) as g:
        heartbeat.submit()
        parts = await asyncio.gather(load(0), load(1), load(2))
        result = await train(list(parts))
    print({name: (m.state.value, m.reason) for name, m in g.report.members.items()})
    return result


if __name__ == "__main__":
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        print("trained", asyncio.run(async_training()))
