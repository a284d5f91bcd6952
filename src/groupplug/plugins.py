"""The plugin manager: hook specs, the ``groupplug`` entry points and the built-in local engine."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import warnings

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

#: Set to 1 to skip loading ``groupplug`` entry points (tests, debugging a broken plugin).
DISABLE_AUTOLOAD_ENV = "GROUPPLUG_DISABLE_PLUGIN_AUTOLOAD"


class PluginLoadWarning(UserWarning):
    """A ``groupplug`` entry point failed to load; it is skipped."""


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    # Loaded one by one (not pm.load_setuptools_entrypoints) so a broken plugin is a warning that
    # names its distribution, instead of an exception that takes every other plugin down with it.
    for ep in importlib.metadata.entry_points(group="groupplug"):
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code
            dist = ep.dist.name if ep.dist else "unknown distribution"
            warnings.warn(
                f"groupplug plugin {ep.name!r} from {dist} failed to load and is skipped: "
                f"{type(exc).__name__}: {exc}",
                PluginLoadWarning,
                stacklevel=3,
            )
            continue
        pm.register(plugin, name=ep.name)


def new_plugin_manager(*, autoload: bool | None = None) -> pluggy.PluginManager:
    """A fresh plugin manager with the specs, the built-in plugins and (optionally) entry points."""
    from . import builtin_plugins

    pm = pluggy.PluginManager("groupplug")
    pm.add_hookspecs(hookspecs)
    for name, plugin in builtin_plugins.BUILTINS:
        pm.register(plugin, name=name)
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0")
    if autoload:
        _load_entry_points(pm)
    return pm


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (built once)."""
    return new_plugin_manager()
