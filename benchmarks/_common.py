"""Shared by every benchmark module: medians, spreads and the one-line JSON result protocol.

Each module runs in the environment it needs and prints one JSON object per benchmark on its
own line prefixed ``RESULT ``; ``run.py`` collects them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def spread(values: list[float]) -> float:
    return max(values) - min(values)


def emit(name: str, *, groupplug: float, native: float | None, unit: str, target: str,
         met: bool, detail: str = "") -> None:
    ratio = groupplug / native if native else None
    print("RESULT " + json.dumps({
        "name": name, "groupplug": round(groupplug, 6),
        "native": round(native, 6) if native is not None else None,
        "ratio": round(ratio, 4) if ratio is not None else None,
        "unit": unit, "target": target, "met": bool(met), "detail": detail}), flush=True)
