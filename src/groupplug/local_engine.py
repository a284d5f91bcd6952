"""The local reference engine plugin: runs YAML workflows as shell commands in subprocesses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import hookimpl
from .report import RunReport
from .spec import Workflow


@hookimpl
def groupplug_engine_names() -> Sequence[str]:
    return ["local"]


@hookimpl
def groupplug_run_workflow(
    workflow: Workflow, engine: str, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport | None:
    if engine != "local":
        return None
    from .runner import LocalRunner

    return LocalRunner(workflow, selected=groups, **options).run()
