"""Test support: a trigger that waits forever and leaves a marker when cancelled (its cleanup)."""
import asyncio
from pathlib import Path

from airflow.triggers.base import BaseTrigger, TriggerEvent


class ForeverTrigger(BaseTrigger):
    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def serialize(self):
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"marker": self.marker})

    async def run(self):
        try:
            await asyncio.sleep(3600)
            yield TriggerEvent({"done": True})
        finally:
            Path(self.marker).write_text("cleaned up")
