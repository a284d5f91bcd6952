"""Independent groups of a workflow run side by side on Prefect; dependent ones wait."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow

pytestmark = pytest.mark.slow

YAML = """
workflow:
  name: side-by-side
  groups:
  - name: left
    tasks: [{name: l, command: "sleep 3"}]
  - name: right
    tasks: [{name: r, command: "sleep 3"}]
  - name: after
    upstream: [left, right]
    tasks: [{name: a, command: "true"}]
"""


def test_independent_groups_overlap_and_dependents_wait(prefect_server):
    from groupplug.prefect.runner import _run

    report = _run(load_workflow(YAML), [], {"server": "current"})
    assert report.state == "succeeded", report.to_json()
    left, right = report.groups["left"].members["l"], report.groups["right"].members["r"]
    after = report.groups["after"].members["a"]
    # Overlap: each started before the other finished (one after the other would not).
    assert left.started_at < right.finished_at and right.started_at < left.finished_at
    assert after.started_at >= max(left.finished_at, right.finished_at)
