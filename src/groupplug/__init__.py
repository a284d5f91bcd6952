"""groupplug: group semantics (leads, barriers, directives, nested status) for workflow engines.

The core never imports an engine; ``groupplug.airflow`` and ``groupplug.prefect`` are the adapters.
"""

from __future__ import annotations

import pluggy

from .authoring import group, task, workflow
from .exceptions import (
    BarrierTimeout,
    GroupplugError,
    GroupplugValueError,
    MissingExtraError,
    Problem,
)
from .loader import dump_workflow, load_workflow, loads_workflow
from .spec import Group, Task, Workflow
from .states import GroupState, MemberState

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("groupplug")

__all__ = [
    "BarrierTimeout",
    "Group",
    "GroupState",
    "GroupplugError",
    "GroupplugValueError",
    "MemberState",
    "MissingExtraError",
    "Problem",
    "Task",
    "Workflow",
    "__version__",
    "dump_workflow",
    "group",
    "hookimpl",
    "load_workflow",
    "loads_workflow",
    "task",
    "workflow",
]
