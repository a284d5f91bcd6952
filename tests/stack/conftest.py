"""The stack suite: tests on the production shape (``scripts/stack``), never on the embedded
defaults. The ``stack`` fixture uses a running stack, or starts one through ``scripts/stack up``
and stops it at the end of the session (``scripts/test stack`` starts it once for both
environments). Airflow tests run in .venv-airflow, Prefect tests in .venv-prefect.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from groupplug import service_procs
from groupplug import stack as stack_mod

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    for line in ("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning",
                 "ignore::ResourceWarning"):
        config.addinivalue_line("filterwarnings", line)


def _running() -> bool:
    try:
        state = stack_mod.load()
    except Exception:  # noqa: BLE001 - no stack.json: not running
        return False
    return all(stack_mod.alive(pid) for pid in state["pids"].values())


@pytest.fixture(scope="session")
def stack():
    started = False
    if not _running():
        subprocess.run([str(ROOT / "scripts" / "stack"), "up"], check=True, timeout=900)
        started = True
    s = stack_mod.Stack()
    s.state = stack_mod.load()
    try:
        yield s
    finally:
        if started and os.environ.get("GROUPPLUG_KEEP_STACK") != "1":
            subprocess.run([str(ROOT / "scripts" / "stack"), "down"], check=True, timeout=300)
            left = [pid for pid in s.state["pids"].values() if service_procs.service_alive(pid)]
            assert left == [], f"scripts/stack down left process groups {left}"


@pytest.fixture(scope="module")
def airflow(stack):
    """The stack's Airflow (for the Airflow files only: the import needs .venv-airflow)."""
    from groupplug.airflow.stack import StackAirflow

    return StackAirflow(stack.state)
