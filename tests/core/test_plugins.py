"""The plugin manager: specs, built-ins, entry points, and the order hooks are called in."""

from __future__ import annotations

import importlib.metadata

import pytest

from groupplug import hookimpl, hookspecs, plugins
from groupplug.spec import Group, Task, Workflow


def test_every_hook_is_prefixed_and_project_is_ours():
    names = [n for n in dir(hookspecs) if n.startswith("groupplug_")]
    assert names, "no hook specs found"
    pm = plugins.new_plugin_manager(autoload=False)
    assert pm.project_name == "groupplug"
    assert {h for h in dir(pm.hook) if not h.startswith("_")} >= set(names)


def test_local_engine_is_a_builtin_plugin():
    pm = plugins.new_plugin_manager(autoload=False)
    assert pm.get_plugin("local") is not None
    assert ["local"] in pm.hook.groupplug_engine_names()


def test_autoload_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_AUTOLOAD_ENV, "1")
    pm = plugins.new_plugin_manager()
    assert pm.get_plugin("airflow") is None and pm.get_plugin("prefect") is None


def test_a_broken_plugin_is_a_warning_naming_its_distribution(monkeypatch):
    class FakeDist:
        name = "groupplug-broken"

    class BrokenEntryPoint:
        name = "broken"
        dist = FakeDist()

        def load(self):
            raise ImportError("no module named broken_engine")

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [BrokenEntryPoint()])
    with pytest.warns(plugins.PluginLoadWarning, match="'broken' from groupplug-broken failed"):
        pm = plugins.new_plugin_manager(autoload=True)
    assert pm.get_plugin("local") is not None


def test_state_change_hooks_are_called_in_order_with_keywords(monkeypatch):
    calls: list[tuple[int, str, dict]] = []

    class Recorder:
        @hookimpl
        def groupplug_member_state_changed(self, group, member, old, new, reason):
            calls.append((len(calls), "member", {"group": group, "member": member,
                                                 "old": old.value, "new": new.value}))

        @hookimpl
        def groupplug_group_state_changed(self, group, old, new):
            calls.append((len(calls), "group", {"group": group, "new": new.value}))

    pm = plugins.new_plugin_manager(autoload=False)
    pm.register(Recorder())
    monkeypatch.setattr(plugins, "get_plugin_manager", lambda: pm)
    from groupplug.runner import LocalRunner

    workflow = Workflow("w", (Group("g", tasks=(Task("only", command="true"),)),))
    report = LocalRunner(workflow).run()
    assert report.state == "succeeded"
    transitions = [(kind, d.get("member"), d["new"]) for _, kind, d in calls]
    assert transitions == [
        ("member", "only", "waiting"),
        ("group", None, "running"),
        ("member", "only", "running"),
        ("member", "only", "succeeded"),
        ("group", None, "succeeded"),
    ]
