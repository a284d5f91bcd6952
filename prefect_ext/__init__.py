"""groupplug for Prefect 3 (``pip install 'groupplug[prefect]'``).

Public API: :func:`group` / :func:`member` (groups as subflows inside a ``@flow``),
:func:`workflow_flow` / :func:`run_groups` (a groupplug spec or YAML workflow as a flow),
:class:`RunOptions`. Prefect is imported on first use, so ``groupplug`` plugins load where
Prefect is absent.
"""

from __future__ import annotations

from groupplug._lazy import lazy_getattr

from ._compat import require_prefect

_EXPORTS = {"group": "authoring", "member": "authoring", "workflow_flow": "group_flow",
            "run_groups": "group_flow", "RunOptions": "group_flow"}
__getattr__ = lazy_getattr(__name__, _EXPORTS, require_prefect)
__all__ = sorted(_EXPORTS)
