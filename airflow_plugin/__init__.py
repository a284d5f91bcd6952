"""groupplug for Apache Airflow 3 (``pip install 'groupplug[airflow]'``).

Public API: :func:`group` / :func:`member` (author grouped DAGs inside ``with DAG(...)``),
:func:`render_workflow` / :func:`dag_from_yaml` (a groupplug spec or YAML file as a DAG).
Airflow is imported on first use, so ``groupplug`` plugins load where Airflow is absent.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "group": "authoring",
    "member": "authoring",
    "render_workflow": "render",
    "dag_from_yaml": "render",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'groupplug.airflow' has no attribute {name!r}")
    from ._compat import require_airflow

    require_airflow()
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
