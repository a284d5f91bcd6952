"""groupplug for Prefect 3 (``pip install 'groupplug[prefect]'``).

Public API: :func:`group` (the task runs of a ``with`` block in a ``@flow`` as a group),
:func:`member` (a shell command or callable as a member), :func:`arrive` /
:func:`arrive_async` (a member arrives at the barrier from its body), :class:`GroupFailed`,
:func:`workflow_flow` / :func:`run_groups` (a groupplug spec or YAML workflow as a flow),
:class:`RunOptions`. Prefect is imported on first use, so ``groupplug`` plugins load where
Prefect is absent.
"""

from __future__ import annotations

from groupplug._lazy import lazy_getattr

from ._compat import require_prefect

_EXPORTS = {"group": "authoring", "member": "authoring", "GroupFailed": "authoring",
            "arrive": "native_member", "arrive_async": "native_member",
            "workflow_flow": "group_flow", "run_groups": "group_flow", "RunOptions": "group_flow"}
__getattr__ = lazy_getattr(__name__, _EXPORTS, require_prefect)
__all__ = sorted(_EXPORTS)
