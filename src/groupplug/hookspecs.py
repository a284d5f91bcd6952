"""Every groupplug hook specification. Plugins implement these with :data:`groupplug.hookimpl`.

Hooks are called with keyword arguments only; an implementation may accept a subset of them.
Adding an argument to a spec is safe, renaming or removing one breaks plugins. Plugins are found
through the ``groupplug`` entry-point group (see :func:`groupplug.plugins.get_plugin_manager`).
The project name is ``"groupplug"``; Airflow's listeners use pluggy with ``"airflow"``, never ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .exceptions import Problem
    from .report import RunReport
    from .spec import Workflow
    from .states import GroupState, MemberState

hookspec = pluggy.HookspecMarker("groupplug")


@hookspec
def groupplug_engine_names() -> Sequence[str]:
    """Names of the engines this plugin can run specs on (``["local"]``, ``["airflow"]``, ...)."""


@hookspec
def groupplug_validate_spec(workflow: Workflow, engine: str | None) -> Sequence[Problem]:
    """Engine-specific problems with ``workflow``; every plugin's answers are reported together.

    ``engine`` is the engine the spec is about to run on, or None for engine-neutral checks.
    """


@hookspec
def groupplug_directive_types() -> Mapping[str, Any]:
    """Extra directive keys this plugin understands, mapped to a normaliser.

    A normaliser is a callable taking the raw value and returning the normalised one, raising
    ``ValueError`` with a message (which names the fix) when the value is wrong.
    """


@hookspec(firstresult=True)
def groupplug_map_directives(
    directives: Mapping[str, Any], engine: str, task: str, group: str
) -> Mapping[str, Any] | None:
    """Translate normalised directives into the engine's own task options.

    Returns a mapping of engine option to value. Keys the engine cannot map must raise
    :class:`groupplug.exceptions.GroupplugValueError` naming the key, never be dropped.
    Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def groupplug_run_workflow(
    workflow: Workflow, engine: str, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport | None:
    """Run ``workflow`` (or only the selected ``groups``) on ``engine``; return its report.

    A plugin answers only for an engine it provides and returns None otherwise.
    Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def groupplug_run_python_file(
    path: str, target: str | None, engine: str, options: Mapping[str, Any]
) -> RunReport | None:
    """Run what the Python file at ``path`` defines on ``engine``; return its report.

    ``groupplug run FILE.py[:TARGET] --engine E``: for Airflow ``target`` is a DAG id (None: the
    file's only DAG), for Prefect a flow function's name. ``options`` carries ``json``,
    ``on_update`` and engine options (``port``). A plugin answers only for an engine it
    provides and returns None otherwise; a file or target it cannot run is a
    :class:`groupplug.exceptions.GroupplugError` naming the fix.
    Stops at the first non-None result.
    """


@hookspec
def groupplug_member_state_changed(
    run_id: str,
    group: str,
    member: str,
    old: MemberState | None,
    new: MemberState,
    reason: str,
) -> None:
    """Notification: a member of ``group`` (dotted path) moved from ``old`` to ``new``."""


@hookspec
def groupplug_group_state_changed(
    run_id: str, group: str, old: GroupState | None, new: GroupState
) -> None:
    """Notification: ``group`` (dotted path) moved from ``old`` to ``new``."""
