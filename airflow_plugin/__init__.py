"""groupplug for Apache Airflow 3 (``pip install 'groupplug[airflow]'``).

Public API: :func:`group` / :func:`member` (author grouped DAGs inside ``with DAG(...)``),
:func:`render_workflow` / :func:`dag_from_yaml` (a groupplug spec or YAML file as a DAG).
Airflow is imported on first use, so ``groupplug`` plugins load where Airflow is absent.
"""

from __future__ import annotations

from groupplug._lazy import lazy_getattr

from ._compat import require_airflow

_EXPORTS = {"group": "authoring", "member": "authoring", "render_workflow": "render",
            "dag_from_yaml": "render"}
__getattr__ = lazy_getattr(__name__, _EXPORTS, require_airflow)
__all__ = sorted(_EXPORTS)
