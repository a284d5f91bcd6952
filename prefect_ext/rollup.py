"""Each group run publishes its roll-up: a table artifact (state counts, lead, members)."""

from __future__ import annotations

import re

from groupplug.report import GroupReport


def artifact_key(path: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return "groupplug-" + re.sub(r"[^a-z0-9-]+", "-", path.lower()).strip("-")


def publish_group(path: str, group: GroupReport, counts: dict[str, int]) -> None:
    """A table artifact on the group's subflow run: one row per member, counts in the text."""
    from prefect.artifacts import create_table_artifact

    rows = [{"member": name, "lead": "yes" if name == group.lead else "",
             "state": m.state.value, "reason": m.reason, "attempts": m.attempts}
            for name, m in group.members.items()]
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    create_table_artifact(
        key=artifact_key(path), table=rows,
        description=f"group **{path}** {group.state.value}; lead {group.lead}; {summary}")
