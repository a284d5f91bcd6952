"""groupplug for Prefect 3 (``pip install 'groupplug[prefect]'``).

Public API: :func:`group` / :func:`member` (groups as subflows inside a ``@flow``),
:func:`workflow_flow` (a groupplug spec or YAML workflow as a flow), :class:`RunOptions`.
Prefect is imported on first use, so ``groupplug`` plugins load where Prefect is absent.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "group": "authoring",
    "member": "authoring",
    "workflow_flow": "group_flow",
    "run_groups": "group_flow",
    "RunOptions": "group_flow",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'groupplug.prefect' has no attribute {name!r}")
    from ._compat import require_prefect

    require_prefect()
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
