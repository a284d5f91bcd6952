"""A ``with group(...)`` block as a flow run of its own, so the group is a unit in Prefect's UI.

A ``with`` block cannot be a subflow (a subflow is a function call), but its task runs must be
able to return results at once (``x = prep(); y = fit(x)``). So the block gets what a subflow
gets, made by hand the way Prefect's flow engine makes it (``flow_engine.create_flow_run``): a
tracking task run in the parent flow run, a flow run named after the group whose parent is that
task run, tagged ``groupplug`` and ``group:<path>``, and a copy of the parent's
``FlowRunContext`` pointing at it. Task runs started in the block belong to that flow run;
nested groups nest. When the block ends the run gets the group's final state and message.
"""

from __future__ import annotations

from typing import Any


def _group_body() -> None:
    """Stands for a group's ``with`` block in the flow registry (never called)."""


class GroupRun:
    """The group's flow run and the flow run context its block runs in."""

    def __init__(self, path: str, name: str):
        self.path, self.name = path, name
        self.flow_run: Any = None
        self.tracking: Any = None
        self._context: Any = None

    def open(self, parent: Any, task_runner: Any) -> None:
        """Create the runs under ``parent`` (a FlowRunContext) and enter the block's context."""
        from prefect import Flow, Task
        from prefect.client.orchestration import get_client
        from prefect.context import TagsContext
        from prefect.states import Running
        from prefect.utilities.asyncutils import run_coro_as_sync

        tracker = Task(name=self.name, fn=_group_body)
        setattr(tracker, "_is_subflow_tracking_task", True)  # noqa: B010 - Prefect's own marker
        self.tracking = run_coro_as_sync(tracker.create_run(flow_run_context=parent,
                                                            parameters={}))
        tags = {*TagsContext.get().current_tags, "groupplug", f"group:{self.path}"}
        with get_client(sync_client=True) as client:
            self.flow_run = client.create_flow_run(
                flow=Flow(fn=_group_body, name=self.name), name=self.path, parameters={},
                parent_task_run_id=self.tracking.id, tags=sorted(tags), state=Running())
        context = parent.model_copy(update={"flow_run": self.flow_run,
                                            "task_runner": task_runner,
                                            "task_run_dynamic_keys": {}})
        context._token = None  # the copy is entered afresh; the parent's token stays its own
        self._context = context.__enter__()

    def leave(self) -> None:
        """Leave the block's context (in the thread or asyncio task that entered it)."""
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None

    def end(self, succeeded: bool, message: str) -> None:
        """The group's run and its tracking task run end with the group's state."""
        from prefect.client.orchestration import get_client
        from prefect.states import Completed, Failed

        if self.flow_run is None:
            return
        with get_client(sync_client=True) as client:
            for setter, run_id in ((client.set_flow_run_state, self.flow_run.id),
                                   (client.set_task_run_state, self.tracking.id)):
                state = Completed(message=message) if succeeded else Failed(message=message)
                setter(run_id, state, force=True)
