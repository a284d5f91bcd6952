"""Text trees of a spec (``groupplug show``) and of a run's states (``groupplug run``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .report import RunReport
from .spec import Group, Workflow

_COLOURS = {
    "succeeded": "32",
    "failed": "31",
    "upstream_failed": "33",
    "running": "36",
    "waiting": "35",
    "setting_up": "34",
    "initializing": "34",
    "retrying": "33",
    "skipped": "90",
}


def _paint(state: str, colour: bool) -> str:
    code = _COLOURS.get(state)
    return f"\x1b[{code}m{state}\x1b[0m" if colour and code else state


def _branches(items: list[Any], prefix: str) -> Iterator[tuple[Any, str, str]]:
    for i, item in enumerate(items):
        last = i == len(items) - 1
        yield item, prefix + ("└── " if last else "├── "), prefix + ("    " if last else "│   ")


def _group_flags(group: Group) -> str:
    flags = []
    if group.lead and len(group.tasks) > 1:
        flags.append(f"lead={group.lead.name}")
    if group.has_barrier:
        timeout = f" timeout={group.barrier_timeout:g}s" if group.barrier_timeout else ""
        flags.append(f"barrier{timeout}")
    if group.tasks and not group.ignore_nonlead_status:
        flags.append("ignoreNonleadStatus=false")
    return "  ".join(flags)


def spec_tree(
    workflow: Workflow, describe: Callable[[Group], str] | None = None
) -> list[str]:
    """The group tree of a spec; ``describe(group)`` adds a suffix (e.g. aggregated directives)."""
    lines = [workflow.name]

    def walk(group: Group, branch: str, stem: str) -> None:
        extra = describe(group) if describe else ""
        head = " ".join(x for x in (group.name, _group_flags(group), extra) if x)
        lines.append(branch + head)
        items: list[Any] = [*group.tasks, *group.children]
        for item, b, s in _branches(items, stem):
            if isinstance(item, Group):
                walk(item, b, s)
            else:
                star = " (lead)" if group.lead is item and len(group.tasks) > 1 else ""
                lines.append(f"{b}{item.name}{star}")

    for group, branch, stem in _branches(list(workflow.groups), ""):
        walk(group, branch, stem)
    return lines


def run_tree(workflow: Workflow, report: RunReport, *, colour: bool = False) -> list[str]:
    """The group tree with each group's and member's state, counts and reasons."""
    state = _paint(report.state, colour)
    lines = [f"{workflow.name} [{report.engine}] {state}"]

    def walk(group: Group, path: str, branch: str, stem: str) -> None:
        g = report.groups[path]
        counts = ", ".join(f"{k}: {v}" for k, v in report.counts(path).items())
        flags = _group_flags(group)
        lines.append(
            f"{branch}{group.name}  {_paint(g.state.value, colour)}"
            + (f"  {flags}" if flags else "")
            + (f"  {{{counts}}}" if counts else "")
        )
        items: list[Any] = [*group.tasks, *group.children]
        for item, b, s in _branches(items, stem):
            if isinstance(item, Group):
                walk(item, f"{path}.{item.name}", b, s)
                continue
            m = g.members[item.name]
            star = " (lead)" if group.lead is item and len(group.tasks) > 1 else ""
            tries = f"  attempts={m.attempts}" if m.attempts > 1 else ""
            why = f"  ({m.reason})" if m.reason else ""
            lines.append(f"{b}{item.name}{star}  {_paint(m.state.value, colour)}{tries}{why}")

    for group, branch, stem in _branches(list(workflow.groups), ""):
        walk(group, group.name, branch, stem)
    return lines


def report_lines(report: RunReport, *, colour: bool = False) -> list[str]:
    """The state tree of a report alone (a DAG file or a flow has no groupplug spec to walk):
    groups nest by their dotted paths, members in report order."""
    lines = [f"{report.workflow} [{report.engine}] {_paint(report.state, colour)}"]
    children: dict[str, list[str]] = {}
    for path in report.groups:
        parent = path.rpartition(".")[0]
        children.setdefault(parent, []).append(path)

    def walk(path: str, branch: str, stem: str) -> None:
        g = report.groups[path]
        counts = ", ".join(f"{k}: {v}" for k, v in report.counts(path).items())
        lead = f"  lead={g.lead}" if g.lead and len(g.members) > 1 else ""
        lines.append(f"{branch}{path.rpartition('.')[2]}  {_paint(g.state.value, colour)}{lead}"
                     + (f"  {{{counts}}}" if counts else ""))
        items: list[Any] = [*g.members.items(), *children.get(path, [])]
        for item, b, s in _branches(items, stem):
            if isinstance(item, str):
                walk(item, b, s)
                continue
            name, m = item
            star = " (lead)" if name == g.lead and len(g.members) > 1 else ""
            tries = f"  attempts={m.attempts}" if m.attempts > 1 else ""
            why = f"  ({m.reason})" if m.reason else ""
            lines.append(f"{b}{name}{star}  {_paint(m.state.value, colour)}{tries}{why}")

    for path, branch, stem in _branches(children.get("", []), ""):
        walk(path, branch, stem)
    return lines
