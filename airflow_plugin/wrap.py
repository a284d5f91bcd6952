"""Turning any operator into a group member, at parse time.

Why an instance-level wrap of ``execute`` works (Airflow 3.3, ``airflow/sdk``): the worker
re-parses the DAG file, so what the DAG file does to an operator happens there too; the task
runner copies the parsed operator (``prepare_for_execution``: ``copy.copy``, which keeps instance
attributes), captures ``task.execute`` and calls it with ``ExecutorSafeguard``'s tracker set to
that task; ``BaseOperator.__setattr__`` has no special case for ``execute``. The wrap therefore
finds the operator being run as ``context["ti"].task`` (the copy, with rendered templates) and
calls its class's ``execute`` on it. A deferred member resumes through ``resume_execution``,
which looks the method up by name on that same task
(:data:`~groupplug.airflow.member_run.RESUME_METHOD`).

A mapped task (``.expand()``) is a ``MappedOperator`` at parse time; the task runner builds each
instance's real operator with ``MappedOperator.unmap``, so the wrap is applied to what ``unmap``
returns (an instance attribute shadowing the method; the attrs class keeps a ``__dict__``).
"""

from __future__ import annotations

import functools
from typing import Any

from airflow.sdk.definitions.mappedoperator import MappedOperator

from .member_run import RESUME_METHOD, resume_member, run_member
from .watch import GroupInfo

MARK = "_groupplug_member"


def install(operator: Any, info: GroupInfo) -> None:
    """Make ``operator`` (a BaseOperator or a MappedOperator) a member of ``info.group``."""
    data = info.to_dict()
    if isinstance(operator, MappedOperator):
        unmap = operator.unmap

        def unmap_as_member(resolve: Any) -> Any:
            real = unmap(resolve)
            _wrap(real, data)
            return real

        object.__setattr__(operator, "unmap", unmap_as_member)
        object.__setattr__(operator, MARK, data)
        return
    _wrap(operator, data)


def _wrap(operator: Any, data: dict[str, Any]) -> None:
    operator.execute = functools.partial(run_member, data)
    setattr(operator, RESUME_METHOD, functools.partial(resume_member, data))
    setattr(operator, MARK, data)


def is_member(operator: Any) -> bool:
    return getattr(operator, MARK, None) is not None
