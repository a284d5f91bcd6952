"""Lazy public names for the adapter packages (PEP 562).

``groupplug.airflow`` and ``groupplug.prefect`` are imported in every environment (their engine
plugins are entry points), so their ``__init__`` may not import the engine: names resolve on first
use, after a check that raises :class:`~groupplug.exceptions.MissingExtraError` naming the extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(
    package: str, exports: Mapping[str, str], require: Callable[[], None]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``exports[name]`` (a submodule) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        require()
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
