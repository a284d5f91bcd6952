"""Helpers for Prefect tests: what the Prefect API holds about a group's runs, and the member
processes a run started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any


def member_pids(pids: dict[str, int], where: Path, names: tuple[str, ...],
                proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Fill ``pids`` with the pids members write to ``where/<name>`` (``echo $$ > ...``),
    waiting while ``proc`` (the run) still runs; fails with the tail of ``log`` otherwise.
    Filled as they appear, so a caller's cleanup kills those found before a failure."""
    deadline = time.monotonic() + timeout
    while len(pids) < len(names):
        for name in names:
            marker = where / name
            if name not in pids and marker.exists() and marker.read_text().strip():
                pids[name] = int(marker.read_text())
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


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
