"""A member renamed after its run was named (``fit`` -> ``fit[0]``) keeps its new name.

Prefect's task run recorder writes every column of a task run, name included, on each state
event; a rename that lands before the run's final event is undone by it (seen once in CI: the
fan-out example's ``process[0]`` ended named ``squares.process``). So ``GroupRun`` renames a run
only once the API holds its final state.
"""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.slow


def test_rename_waits_for_the_final_state_then_sticks(prefect_server):
    from prefect import Task
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running

    from groupplug.prefect.group_run import GroupRun

    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            flow=__import__("prefect").Flow(fn=lambda: None, name="rename-probe"),
            state=Running())
        run = client.create_task_run(task=Task(name="fit", fn=lambda: None),
                                     flow_run_id=flow_run.id, name="g.fit",
                                     dynamic_key="0", state=Running())
        group = GroupRun("g", "g")
        group._client = client
        renaming = threading.Thread(target=group._rename, args=({str(run.id): "g.fit[0]"},))
        renaming.start()
        time.sleep(1.0)
        assert renaming.is_alive(), "renamed a run whose final state is not in the API yet"
        assert client.read_task_run(run.id).name == "g.fit"
        # The run's last event: a whole-row write carrying the old name.
        client.set_task_run_state(run.id, Completed(), force=True)
        renaming.join(timeout=10)
        assert not renaming.is_alive()
        assert client.read_task_run(run.id).name == "g.fit[0]"
