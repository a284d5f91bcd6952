"""Members on Dask workers stop by themselves once their group's run is gone.

A group's subflow posts every stop; when its process dies (or it gives up on a server that later
comes back) nobody would ever post one, and a member in ``sleep 600`` on a Dask worker ran on
alone, holding the worker. The subflow now beats on the group's channel; a member that sees the
beat stand still for the orphan limit stops its command and fails. Here the run's process is
SIGKILLed while its members run on a Dask cluster it does not own, against a real server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from groupplug.service_procs import alive
from tests.prefect.native_util import member_pids

pytestmark = pytest.mark.slow

RUN = """
import sys
from prefect_dask import DaskTaskRunner
from groupplug.loader import load_workflow
from groupplug.prefect.runner import _run

workflow = load_workflow(open(sys.argv[1]).read())
_run(workflow, [], {"server": "current", "channel": "variables",
                    "task_runner": lambda members: DaskTaskRunner(address=sys.argv[2])})
"""


def test_members_stop_once_their_groups_run_is_gone(tmp_path, dask_cluster, prefect_server):
    spec = tmp_path / "orphans.yaml"
    spec.write_text(f"""
workflow:
  name: orphans
  groups:
  - name: g
    tasks:
    - {{name: lead, lead: true, command: "echo $$ > {tmp_path}/lead; exec sleep 600"}}
    - {{name: w1, command: "echo $$ > {tmp_path}/w1; exec sleep 600"}}
""")
    script = tmp_path / "run.py"
    script.write_text(RUN)
    orphan = 8
    env = {**os.environ, "GROUPPLUG_PREFECT_ORPHAN_SECONDS": str(orphan)}
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, str(script), str(spec),
                             dask_cluster.scheduler_address], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=os.getcwd())
    pids: dict[str, int] = {}
    try:
        member_pids(pids, tmp_path, ("lead", "w1"), proc, tmp_path / "run.log", timeout=120)
        proc.send_signal(signal.SIGKILL)  # the run's process dies; its Dask members do not
        proc.wait(10)
        killed = time.monotonic()
        end = killed + orphan + 60
        while any(alive(p) for p in pids.values()) and time.monotonic() < end:
            time.sleep(0.5)
        took = time.monotonic() - killed
        left = [name for name, pid in pids.items() if alive(pid)]
        print(f"run killed -> member commands gone in {took:.1f} s (orphan limit {orphan} s)")
        assert left == [], f"members ran on after their group's run died: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
