"""Airflow listeners (Airflow's own pluggy project "airflow") that raise groupplug's hooks.

When a task instance of a groupplug group changes state, ``groupplug_member_state_changed`` is
called on every groupplug plugin with the member's groupplug state; a gate finishing raises
``groupplug_group_state_changed``. Listeners run in the task's process (Task SDK), so plugins
see changes on whatever worker the task ran.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

from groupplug.states import GroupState, MemberState

from . import naming

log = logging.getLogger(__name__)

_MEMBER = {"running": MemberState.RUNNING, "success": MemberState.SUCCEEDED,
           "failed": MemberState.FAILED}


def _member_of(task: Any, ti: Any) -> tuple[str, str] | None:
    """(group path, member key) of a task made a member by ``groupplug.airflow.wrap``."""
    from .watch import member_key
    from .wrap import MARK

    info = getattr(task, MARK, None)
    if not info:
        return None
    for name, main in info["mains"].items():
        if main == ti.task_id:
            index = getattr(ti, "map_index", -1)
            return info["group"], member_key(name, -1 if index is None else index)
    return None


def _notify(ti: Any, airflow_state: str) -> None:
    from groupplug.plugins import get_plugin_manager

    task = getattr(ti, "task", None)
    hook = get_plugin_manager().hook
    run_id = getattr(ti, "run_id", "")
    found = _member_of(task, ti)
    if found is not None and airflow_state in _MEMBER:
        group, member = found
        hook.groupplug_member_state_changed(run_id=run_id, group=group, member=member, old=None,
                                            new=_MEMBER[airflow_state], reason="")
    elif ti.task_id.endswith(naming.GATE) and airflow_state in ("success", "failed"):
        group = getattr(task, "group", ti.task_id)
        new = GroupState.SUCCEEDED if airflow_state == "success" else GroupState.FAILED
        hook.groupplug_group_state_changed(run_id=run_id, group=group, old=None, new=new)


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any, **kwargs: Any) -> None:
    _notify(task_instance, "running")


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any, **kwargs: Any) -> None:
    _notify(task_instance, "success")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, **kwargs: Any) -> None:
    _notify(task_instance, "failed")
