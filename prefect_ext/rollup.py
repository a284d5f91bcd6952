"""Each group run publishes its roll-up: a table artifact and a final message.

A group of members gets one row per member. A parent group (one holding only groups) has no
members of its own, so its roll-up is of its children: one row per child group with that
child's state and its members' state counts, and the parent's counts are the sum of every
descendant's (DESIGN section 3: ``{succeeded: 7, failed: 1}`` plus the group's own state).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from groupplug.report import GroupReport


def artifact_key(path: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "groupplug-" + re.sub(r"[^a-z0-9-]+", "-", path.lower()).strip("-")


def rolled_up_counts(path: str, group: GroupReport,
                     children: Mapping[str, GroupReport] | None = None) -> dict[str, int]:
    """Member state counts of ``group`` and every descendant in ``children`` (by dotted path;
    paths not under ``path`` are ignored)."""
    counter: Counter[str] = Counter(m.state.value for m in group.members.values())
    for child_path, child in (children or {}).items():
        if child_path.startswith(path + "."):
            counter.update(m.state.value for m in child.members.values())
    return dict(sorted(counter.items()))


def _direct(path: str, children: Mapping[str, GroupReport] | None) -> dict[str, GroupReport]:
    return {p: g for p, g in (children or {}).items()
            if p.startswith(path + ".") and "." not in p[len(path) + 1:]}


def final_message(path: str, group: GroupReport,
                  children: Mapping[str, GroupReport] | None = None) -> str:
    """The group run's final state message.

    >>> from groupplug.states import GroupState
    >>> final_message("p", GroupReport(GroupState.FAILED), {"p.a": GroupReport(GroupState.FAILED)})
    'group p failed; groups: a failed; members: {}'
    """
    counts = rolled_up_counts(path, group, children)
    direct = _direct(path, children)
    if direct and not group.members:
        return f"group {path} {group.state.value}; groups: {_states(direct)}; members: {counts}"
    return f"group {path} {group.state.value}; lead {group.lead}; {counts}"


def _states(groups: Mapping[str, GroupReport]) -> str:
    return ", ".join(f"{p.rsplit('.', 1)[1]} {g.state.value}" for p, g in groups.items())


def table_rows(path: str, group: GroupReport,
               children: Mapping[str, GroupReport] | None = None) -> list[dict[str, object]]:
    """The artifact's rows: one per member, then one per direct child group."""
    rows: list[dict[str, object]] = [
        {"member": name, "lead": "yes" if name == group.lead else "", "state": m.state.value,
         "reason": m.reason, "attempts": m.attempts} for name, m in group.members.items()]
    for child_path, child in _direct(path, children).items():
        counts = rolled_up_counts(child_path, child, children)
        rows.append({"group": child_path, "state": child.state.value,
                     "lead": child.lead or "",
                     "members": ", ".join(f"{k}: {v}" for k, v in counts.items())})
    return rows


def publish_group(path: str, group: GroupReport, counts: dict[str, int] | None = None,
                  children: Mapping[str, GroupReport] | None = None) -> None:
    """A table artifact on the group's run: its members' rows and its child groups' rows.

    ``counts`` defaults to the roll-up over ``children``; pass ``children`` (every descendant's
    report by dotted path) for a parent group, or its artifact has no rows.
    """
    from prefect.artifacts import create_table_artifact

    counts = counts if counts is not None else rolled_up_counts(path, group, children)
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    kids = _direct(path, children)
    description = f"group **{path}** {group.state.value}; lead {group.lead}; {summary}"
    if kids and not group.members:
        description = (f"group **{path}** {group.state.value}; groups: {_states(kids)}; "
                       f"members: {summary}")
    # _sync: called from a worker thread of an async flow Prefect would hand back a coroutine
    # (measured: "coroutine 'acreate_table_artifact' was never awaited", no artifact).
    create_table_artifact(key=artifact_key(path), table=table_rows(path, group, children),
                          description=description, _sync=True)  # type: ignore[call-arg]
