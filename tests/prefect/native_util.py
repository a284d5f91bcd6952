"""Helpers for native-member tests: what the Prefect API holds about a group's runs."""

from __future__ import annotations

from typing import Any


def runs_tagged(tag: str) -> tuple[list[Any], list[Any]]:
    """``(flow runs, task runs)`` carrying ``tag`` (e.g. ``group:train``), from the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterTags,
        TaskRunFilter,
        TaskRunFilterTags,
    )
    from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort

    with get_client(sync_client=True) as client:
        flows = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[tag])), limit=200, sort=FlowRunSort.START_TIME_ASC)
        tasks = client.read_task_runs(task_run_filter=TaskRunFilter(
            tags=TaskRunFilterTags(all_=[tag])), limit=200,
            sort=TaskRunSort.EXPECTED_START_TIME_ASC)
    return flows, tasks


def unfinished(tag: str) -> list[str]:
    """Names and states of runs tagged ``tag`` the API still holds as not final."""
    flows, tasks = runs_tagged(tag)
    return [f"{r.name}: {r.state.type.value}" for r in [*flows, *tasks]
            if r.state is None or not r.state.is_final()]


def task_states(tag: str) -> dict[str, tuple[str, str]]:
    """Task run name -> (state type, state message) for task runs tagged ``tag``."""
    _, tasks = runs_tagged(tag)
    return {t.name: (t.state.type.value, t.state.message or "") for t in tasks}
