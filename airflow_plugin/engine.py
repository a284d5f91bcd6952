"""The groupplug engine plugin for Airflow (entry point ``groupplug: airflow``).

Loaded in every environment groupplug is installed in, so it imports Airflow only inside hooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from groupplug import hookimpl
from groupplug.report import RunReport
from groupplug.spec import Workflow


@hookimpl
def groupplug_engine_names() -> Sequence[str]:
    return ["airflow"]


@hookimpl
def groupplug_directive_types() -> Mapping[str, Any]:
    from .directives import AIRFLOW_TYPES

    return AIRFLOW_TYPES


@hookimpl
def groupplug_run_workflow(
    workflow: Workflow, engine: str, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport | None:
    if engine != "airflow":
        return None
    from ._compat import require_airflow

    require_airflow()
    from .runner import run_workflow

    return run_workflow(workflow, groups, options)


@hookimpl
def groupplug_run_python_file(
    path: str, target: str | None, engine: str, options: Mapping[str, Any]
) -> RunReport | None:
    if engine != "airflow":
        return None
    from ._compat import require_airflow

    require_airflow()
    from .dagfile import run_dag_file

    return run_dag_file(path, target, options)
