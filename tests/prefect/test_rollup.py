"""Parent roll-ups, the group-report registry and a flow file's report (real flows where the
API is involved)."""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

import pytest

from groupplug.report import GroupReport, MemberReport
from groupplug.states import GroupState, MemberState

FLOWS = Path(__file__).resolve().parent / "flows"


def _group(state: GroupState, lead: str | None, **members: MemberState) -> GroupReport:
    return GroupReport(state, lead, {n: MemberReport(s) for n, s in members.items()})


CHILDREN = {
    "pipeline.prep": _group(GroupState.SUCCEEDED, "split", clean=MemberState.SUCCEEDED,
                            split=MemberState.SUCCEEDED),
    "pipeline.train": _group(GroupState.FAILED, "fit", fit=MemberState.FAILED,
                             watch=MemberState.FAILED, log=MemberState.SUCCEEDED),
    "pipeline.train.inner": _group(GroupState.SUCCEEDED, "x", x=MemberState.SUCCEEDED),
    "other": _group(GroupState.SUCCEEDED, "y", y=MemberState.SUCCEEDED),
}


def test_parent_message_rolls_up_its_children():
    from groupplug.prefect.rollup import final_message, rolled_up_counts

    parent = GroupReport(GroupState.FAILED, None, {})
    assert rolled_up_counts("pipeline", parent, CHILDREN) == {"failed": 2, "succeeded": 4}
    assert final_message("pipeline", parent, CHILDREN) == (
        "group pipeline failed; groups: prep succeeded, train failed; "
        "members: {'failed': 2, 'succeeded': 4}")
    leaf = CHILDREN["pipeline.prep"]
    assert final_message("pipeline.prep", leaf) == (
        "group pipeline.prep succeeded; lead split; {'succeeded': 2}")


def test_parent_table_has_a_row_per_child_group():
    from groupplug.prefect.rollup import table_rows

    rows = table_rows("pipeline", GroupReport(GroupState.FAILED, None, {}), CHILDREN)
    assert rows == [
        {"group": "pipeline.prep", "state": "succeeded", "lead": "split",
         "members": "succeeded: 2"},
        {"group": "pipeline.train", "state": "failed", "lead": "fit",
         "members": "failed: 2, succeeded: 2"},  # inner's member counted in train's roll-up
    ]


def test_parent_artifact_is_published_with_the_roll_up(prefect_server):
    from prefect import flow
    from prefect.client.orchestration import get_client

    from groupplug.prefect.rollup import artifact_key, publish_group

    @flow
    def publishes() -> None:
        publish_group("rollup-parent", GroupReport(GroupState.FAILED, None, {}),
                      children={k.replace("pipeline", "rollup-parent"): v
                                for k, v in CHILDREN.items()})

    publishes()
    with get_client(sync_client=True) as client:
        found = client.request("POST", "/artifacts/filter", json={
            "artifacts": {"key": {"any_": [artifact_key("rollup-parent")]}}}).json()
    assert len(found) == 1
    assert "groups: prep succeeded, train failed" in found[0]["description"]
    assert "failed: 2, succeeded: 4" in found[0]["description"]
    assert '"group": "rollup-parent.train"' in found[0]["data"]


def test_registry_collects_per_run_across_threads_and_numbers_repeats():
    from groupplug.prefect.registry import collect, collecting, member_keys, record

    report = _group(GroupState.SUCCEEDED, "a", a=MemberState.SUCCEEDED)
    assert record("outside", report) == "outside" and collect() == {}  # nothing kept
    with collecting() as groups:
        record("train", report)
        # Prefect runs work in copies of the caller's context, in other threads.
        worker = threading.Thread(target=contextvars.copy_context().run,
                                  args=(record, "train", report))
        worker.start()
        worker.join()
        assert record("train", report) == "train[2]"
    assert list(groups) == ["train", "train[1]", "train[2]"]
    assert member_keys(["prep", "fit", "fit", "score", "fit"]) == [
        "prep", "fit[0]", "fit[1]", "score", "fit[2]"]


def test_missing_parent_gets_its_children_roll_up():
    from groupplug.prefect.flowfile import build_report

    class State:  # the parts of a Prefect state build_report reads
        message, name = "", "Completed"
        state_details = type("D", (), {"flow_run_id": "r1"})()

        def is_failed(self) -> bool:
            return False

        is_crashed = is_failed

        def is_completed(self) -> bool:
            return True

    groups = {"outer.inner": _group(GroupState.FAILED, "a", a=MemberState.FAILED)}
    report = build_report("f", groups, State())
    assert report.groups["outer"].state is GroupState.FAILED
    assert report.state == "failed"  # not "succeeded" for want of a top-level group


@pytest.mark.slow
def test_flow_failing_outside_its_groups_is_a_failed_run(prefect_server):
    from groupplug.prefect.flowfile import load_flow, run_flow

    report = run_flow(load_flow(FLOWS / "shell_groups.py", "fails_after_its_groups"))
    assert report.groups["prep"].state is GroupState.SUCCEEDED
    assert report.flow_state == "Failed"
    assert report.state == "failed"
    assert "RuntimeError: the flow body failed after its groups" in report.flow_message
    assert report.to_json()["flow_run"]["state"] == "Failed"


def test_a_yaml_parent_group_ends_with_its_childrens_roll_up(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client

    from groupplug.loader import load_workflow
    from groupplug.prefect.group_flow import workflow_flow
    from groupplug.prefect.rollup import artifact_key

    spec = tmp_path / "w.yaml"
    spec.write_text("workflow:\n  name: yaml-rollup\n  groups:\n  - name: yamlparent\n"
                    "    groups:\n    - name: ok\n      tasks:\n"
                    "      - {name: a, command: 'true'}\n"
                    "    - name: bad\n      tasks:\n      - {name: b, command: 'exit 1'}\n")
    state = workflow_flow(load_workflow(spec))(return_state=True)
    assert state.is_failed()
    with get_client(sync_client=True) as client:
        runs = client.request("POST", "/flow_runs/filter", json={
            "flow_runs": {"parent_flow_run_id": {"any_": [str(
                state.state_details.flow_run_id)]}}}).json()
        found = client.request("POST", "/artifacts/filter", json={
            "artifacts": {"key": {"any_": [artifact_key("yamlparent")]}}}).json()
    parent = next(r for r in runs if r["name"] and r["state"]["message"].startswith(
        "group yamlparent"))
    assert parent["state"]["message"] == (
        "group yamlparent failed; groups: ok succeeded, bad failed; "
        "members: {'failed': 1, 'succeeded': 1}")
    assert len(found) == 1 and '"group": "yamlparent.bad"' in found[0]["data"]
