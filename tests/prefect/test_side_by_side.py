"""Independent groups of a workflow run side by side on Prefect; dependent ones wait."""

from __future__ import annotations

import pytest

from groupplug.loader import load_workflow

pytestmark = pytest.mark.slow

# Each side marks that it runs, then waits (up to 120 s) for the other's mark: run one after the
# other, the first side fails, however slow the machine; side by side, both succeed.
MEET = ('touch {dir}/{me}; i=0; until [ -e {dir}/{other} ]; do i=$((i+1)); '
        '[ $i -gt 1200 ] && exit 1; sleep 0.1; done')

YAML = """
workflow:
  name: side-by-side
  groups:
  - name: left
    tasks: [{{name: l, command: "{left}"}}]
  - name: right
    tasks: [{{name: r, command: "{right}"}}]
  - name: after
    upstream: [left, right]
    tasks: [{{name: a, command: "true"}}]
"""


def test_independent_groups_overlap_and_dependents_wait(prefect_server, tmp_path):
    from groupplug.prefect.runner import _run

    text = YAML.format(left=MEET.format(dir=tmp_path, me="l", other="r"),
                       right=MEET.format(dir=tmp_path, me="r", other="l"))
    report = _run(load_workflow(text), [], {"server": "current"})
    assert report.state == "succeeded", report.to_json()
    left, right = report.groups["left"].members["l"], report.groups["right"].members["r"]
    after = report.groups["after"].members["a"]
    assert (tmp_path / "l").exists() and (tmp_path / "r").exists()
    assert after.started_at >= max(left.finished_at, right.finished_at)
