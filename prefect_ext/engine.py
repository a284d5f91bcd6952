"""The groupplug engine plugin for prefect (stub until the adapter lands).

Must import without prefect installed: the engine is imported lazily inside the hooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from groupplug import hookimpl


@hookimpl
def groupplug_engine_names() -> Sequence[str]:
    return ["prefect"]
