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
        self._client: Any = None
        self._own_client = False

    def open(self, parent: Any, task_runner: Any) -> None:
        """Create the runs under ``parent`` (a FlowRunContext) and enter the block's context."""
        from prefect import Flow, Task
        from prefect._internal.engine import dynamic_key_for_task_run
        from prefect.client.orchestration import SyncPrefectClient, get_client
        from prefect.context import TagsContext
        from prefect.states import Running

        # One client for the group's few calls (a client per call cost ~0.3 s each, measured):
        # the flow's own when it is a sync one (this thread's), else one of the group's.
        if isinstance(parent.client, SyncPrefectClient):
            self._client, self._own_client = parent.client, False
        else:
            self._client, self._own_client = get_client(sync_client=True).__enter__(), True
        tracker = Task(name=self.name, fn=_group_body)
        setattr(tracker, "_is_subflow_tracking_task", True)  # noqa: B010 - Prefect's own marker
        outer = set(TagsContext.get().current_tags)  # the tracking run belongs to the parent
        tags = {*outer, "groupplug", f"group:{self.path}"}
        self.tracking = self._client.create_task_run(
            task=tracker, flow_run_id=parent.flow_run.id, name=self.name,
            dynamic_key=dynamic_key_for_task_run(context=parent, task=tracker),
            extra_tags=sorted(outer), state=Running())
        self.flow_run = self._client.create_flow_run(
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

    def end(self, succeeded: bool, message: str, renames: dict[str, str] | None = None) -> None:
        """The group's run and its tracking task run end with the group's state; task runs in
        ``renames`` (id -> name) get their final names."""
        from prefect.states import Completed, Failed

        if self._client is None:
            return
        try:
            self._rename(renames or {})
            if self.flow_run is not None:
                for setter, run_id in ((self._client.set_flow_run_state, self.flow_run.id),
                                       (self._client.set_task_run_state, self.tracking.id)):
                    state = Completed(message=message) if succeeded else Failed(message=message)
                    setter(run_id, state, force=True)
        finally:
            if self._own_client:
                self._client.__exit__(None, None, None)
            self._client = None

    def _rename(self, renames: dict[str, str]) -> None:
        """Task runs reach the API through Prefect's event pipeline, and every state event
        rewrites the whole row, name included (``task_run_recorder``: an upsert of all columns).
        A rename sent before a run's final event lands is undone by it, so a run is renamed
        only once the API holds its final state; older events cannot overwrite a newer state.
        A name still missing after the wait is logged (the report has the right key)."""
        import logging
        import time
        from uuid import UUID

        deadline = time.monotonic() + 15
        pending = {UUID(run_id): name for run_id, name in renames.items()}
        while pending:
            for run_id in list(pending):
                try:
                    state = self._client.read_task_run(run_id).state
                except Exception:  # noqa: BLE001 - not there yet (404): asked again
                    continue
                if state is not None and state.is_final():
                    self._client.set_task_run_name(run_id, pending.pop(run_id))
            if pending and time.monotonic() > deadline:
                logging.getLogger(__name__).warning(
                    "group %s: task runs not renamed (their final state never reached the API "
                    "in 15 s): %s", self.path, {str(k): v for k, v in pending.items()})
                return
            if pending:
                time.sleep(0.1)
