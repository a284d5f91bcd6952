"""The groupplug engine plugin for Prefect (entry point ``groupplug: prefect``).

Loaded in every environment groupplug is installed in, so it imports Prefect only inside hooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from groupplug import hookimpl
from groupplug.report import RunReport
from groupplug.spec import Workflow


@hookimpl
def groupplug_engine_names() -> Sequence[str]:
    return ["prefect"]


@hookimpl
def groupplug_directive_types() -> Mapping[str, Any]:
    from .directives import PREFECT_TYPES

    return PREFECT_TYPES


@hookimpl
def groupplug_run_workflow(
    workflow: Workflow, engine: str, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport | None:
    if engine != "prefect":
        return None
    from ._compat import require_prefect

    require_prefect()
    from .runner import run_workflow

    return run_workflow(workflow, groups, options)


@hookimpl
def groupplug_run_python_file(path: str, target: str | None, engine: str,
                              options: Mapping[str, Any]) -> RunReport | None:
    if engine != "prefect":
        return None
    from ._compat import require_prefect

    require_prefect()
    from .flowfile import run_flow_file

    return run_flow_file(path, target, options)
