"""Prefect faults on the stack: the PostgreSQL-backed server restarted mid-run, two runs of one
flow at once, and ordinary ``@task`` members in ``with group(...)`` blocks on the stack's Dask
cluster (a lead stopping a member blocked in ``time.sleep``). Every run must end (no hang) with
every flow run and task run final in the server. Waits are on marker files, never on time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("prefect")
pytest.importorskip("prefect_dask")

from groupplug.prefect.runner import run_records  # noqa: E402
from groupplug.service_procs import alive  # noqa: E402
from tests.prefect.native_util import member_pids  # noqa: E402
from tests.stack.test_prefect_stack import in_background, pid_from  # noqa: E402

pytestmark = pytest.mark.slow
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
GROUPPLUG = Path(sys.executable).with_name("groupplug")


@pytest.fixture(scope="module")
def api(stack):
    """This process talks to the stack's Prefect server (the in-process flows below); no
    server watch here: it would end whichever run this process makes next."""
    from groupplug.prefect._server import ExistingServer

    with ExistingServer(stack.prefect_api_url(), watch=False):
        yield stack.prefect_api_url()


def not_final(flow_run_id: str) -> list[str]:
    return [f"{r['name']}: {(r.get('state') or {}).get('type')}"
            for r in run_records(flow_run_id)
            if (r.get("state") or {}).get("type") not in FINAL]


def test_prefect_server_restarted_mid_run(stack, api, tmp_path):
    """The server is killed (SIGKILL) while both members run, the lead finishes while it is
    gone, then it comes back on the same port: the lead's end still stops the other member as
    the rules say (lead succeeded, w1 succeeded with 'lead finished'), and every record ends
    final in the server."""
    go = tmp_path / "go"
    yaml = f"""
workflow:
  name: srvrestart
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "echo $$ > {tmp_path}/lead; while [ ! -f {go} ]; do sleep 0.2; done; touch {tmp_path}/lead.done"}}
    - {{name: w1, command: "echo $$ > {tmp_path}/w1; sleep 600"}}
"""  # noqa: E501
    thread, result = in_background(yaml)
    pid_from(tmp_path / "lead", thread, result)
    w1 = pid_from(tmp_path / "w1", thread, result)

    def while_down() -> None:  # the lead ends with nobody to tell
        go.touch()
        while not (tmp_path / "lead.done").exists():
            time.sleep(0.2)

    killed = time.monotonic()
    stack.restart("prefect-server", while_down=while_down, sig=signal.SIGKILL)
    down = time.monotonic() - killed
    print(f"server down {down:.1f} s (the run rides out up to 60 s)")
    thread.join(600)
    assert not thread.is_alive(), "the run hung after the Prefect server restarted"
    assert "error" not in result, result
    report = result["report"]
    members = report.groups["g"].members
    assert report.state == "succeeded", f"server down {down:.1f} s: {report.to_json()}"
    assert members["lead"].state.value == "succeeded", report.to_json()
    assert members["w1"].state.value == "succeeded", report.to_json()
    assert "lead finished" in members["w1"].reason, report.to_json()
    assert not os.path.exists(f"/proc/{w1}"), "w1's command outlived its stop"
    assert not_final(report.run_id) == []


def test_two_runs_of_one_flow_at_once_do_not_cross(stack, api, tmp_path):
    """Two ``groupplug run --stack`` of one workflow (one flow) at once; all four members run
    at the same time, then the first lead to decide fails and the other succeeds: each run's
    member must follow its own lead, and each run's records end final."""
    up = f"touch {tmp_path}/up.$$"
    all_up = f"while [ $(ls {tmp_path} | grep -c '^up') -lt 4 ]; do sleep 0.2; done"
    # mkdir is atomic: exactly one lead fails, whatever the timing
    decide = f"if mkdir {tmp_path}/first; then exit 1; else sleep 2; fi"
    spec = tmp_path / "tworuns.yaml"
    spec.write_text(f"""
workflow:
  name: tworuns
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "{up}; {all_up}; {decide}"}}
    - {{name: w1, command: "{up}; sleep 600"}}
""")
    env = {**os.environ, "GROUPPLUG_STACK_DIR": str(stack.dir)}
    procs = [subprocess.Popen([str(GROUPPLUG), "run", str(spec), "--engine", "prefect",
                               "--stack", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    reports = []
    for out, err in outs:
        assert out.strip(), err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["state"] for r in reports) == ["failed", "succeeded"], reports
    assert sorted(p.returncode for p in procs) == [0, 1], reports
    assert reports[0]["run_id"] != reports[1]["run_id"]
    for report in reports:
        members = report["groups"]["g"]["members"]
        assert members["lead"]["state"] == report["state"], report
        assert members["w1"]["state"] == members["lead"]["state"], report
        assert "lead finished" in members["w1"]["reason"], report
        assert not_final(report["run_id"]) == []
    assert len(list(tmp_path.glob("up.*"))) == 4  # all four ran together


def _dask_flow(stack, body):
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    return flow(name="python-members", task_runner=DaskTaskRunner(
        address=stack.dask_address()))(body)


def test_python_lead_stops_a_member_blocked_in_sleep_on_dask(stack, api, tmp_path):
    """Ordinary ``@task`` members of a ``with group(...)`` block on the stack's Dask workers:
    the lead ends while the other member sits in ``time.sleep(600)``; that member is stopped
    (its process gone), succeeded with 'lead finished', and every record is final."""
    from prefect import task

    from groupplug.prefect import group

    pid_file = str(tmp_path / "w1.pid")
    name = f"py{uuid.uuid4().hex[:6]}"

    def lead() -> str:  # ends once the member is surely blocked in its sleep
        while not os.path.exists(pid_file):
            time.sleep(0.1)
        return "lead done"

    def w1() -> str:
        with open(pid_file + ".tmp", "w") as out:
            out.write(str(os.getpid()))
        os.rename(pid_file + ".tmp", pid_file)
        time.sleep(600)
        return "slept"

    def body() -> dict:
        with group(name, lead="lead", raise_on_failure=False) as block:
            task(name="lead")(lead).submit()
            task(name="w1")(w1).submit()
        return block.reports

    state = _dask_flow(stack, body)(return_state=True)
    reports = state.result(raise_on_failure=False)
    g = reports[name]
    assert g.state.value == "succeeded", g
    assert g.members["lead"].state.value == "succeeded", g
    assert g.members["w1"].state.value == "succeeded", g
    assert "lead finished" in g.members["w1"].reason, g
    sleeper = int(Path(pid_file).read_text())
    assert not alive(sleeper), "the member's time.sleep(600) was never stopped"
    assert not_final(str(state.state_details.flow_run_id)) == []



def test_prefect_server_down_ends_the_run_with_exit_3_and_stops_members(stack, tmp_path):
    """The stack's server is killed (SIGKILL) and stays down while both members (on the Dask
    workers) run: ``groupplug run --stack`` ends with exit 3, a message naming the server and
    one JSON object, and each member stops its own command once it has heard nothing from
    its group for the limit (it cannot be told: the messages live on that server). Before,
    the run ended with exit 1 and a ConnectError after Prefect's client retried for minutes,
    and the members' commands ran on."""
    spec = tmp_path / "serverdown.yaml"
    spec.write_text(f"""
workflow:
  name: serverdown
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "echo $$ > {tmp_path}/lead; sleep 600"}}
    - {{name: w1, command: "echo $$ > {tmp_path}/w1; sleep 600"}}
""")
    limit = 10
    env = {**os.environ, "GROUPPLUG_STACK_DIR": str(stack.dir),
           "GROUPPLUG_PREFECT_DOWN_SECONDS": str(limit)}
    out, err = (tmp_path / "out").open("w+"), (tmp_path / "err").open("w+")
    proc = subprocess.Popen([str(GROUPPLUG), "run", str(spec), "--engine", "prefect", "--stack",
                             "--json"], stdout=out, stderr=err, text=True, env=env)
    pids: dict[str, int] = {}
    took: dict[str, float] = {}
    try:
        member_pids(pids, tmp_path, ("lead", "w1"), proc, tmp_path / "err", timeout=300)

        def while_down() -> None:  # nobody restarts the server before the run has ended
            killed = time.monotonic()
            proc.wait(timeout=180)
            took["run"] = time.monotonic() - killed
            end = time.monotonic() + 180
            while any(alive(p) for p in pids.values()) and time.monotonic() < end:
                time.sleep(0.5)
            took["members"] = time.monotonic() - killed

        # The members learn nothing from the Dask workers' own view: they run on unchanged.
        stack.restart("prefect-server", while_down=while_down, sig=signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    print(f"server killed -> run ended in {took['run']:.1f} s, member commands gone in "
          f"{took['members']:.1f} s (limit {limit} s)")
    assert proc.returncode == 3, stderr[-3000:]
    assert "has not answered for" in stderr, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, stdout
    report = json.loads(lines[0])
    assert report["state"] == "failed" and "has not answered" in report["error"], report
    left = [name for name, pid in pids.items() if alive(pid)]
    assert left == [], f"member commands outlived the run: {left}"


def test_python_member_table_on_dask_and_postgres(stack, api, tmp_path_factory):
    """The Python-member table (``with group(...)`` blocks of ``@task`` functions, as in
    ``tests/prefect/test_conformance_native.py``) on the stack's Dask worker processes against
    the PostgreSQL-backed server: the same scenarios as on the Celery workers."""
    import cloudpickle
    from prefect_dask import DaskTaskRunner

    from groupplug.loader import load_workflow
    from tests.core import conformance
    from tests.prefect import test_conformance_native as native

    for module in (conformance, native):  # the workers cannot import the tests package
        cloudpickle.register_pickle_by_value(module)
    problems = {}
    for scenario in conformance.PYTHON_UNDER_LOAD:
        workflow = load_workflow(scenario.spec_yaml(str(tmp_path_factory.mktemp(scenario.id))))
        report = native.run_native(workflow, DaskTaskRunner(address=stack.dask_address()))
        found = scenario.check(report)
        if found:
            problems[scenario.id] = found + [json.dumps(report.to_json())]
    assert problems == {}
