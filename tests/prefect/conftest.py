"""Prefect test set-up: one real ``prefect server`` (temporary home, SQLite) for the session.

The server's address goes into ``os.environ`` (``PREFECT_API_URL``) before any flow runs, so
process-based task runners (Dask workers) report to the same server. Telemetry is off.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_configure(config):
    # Prefect, Dask and their dependencies warn about their own internals on import and use.
    for line in (
        "ignore::DeprecationWarning",
        "ignore::PendingDeprecationWarning",
        "ignore::ResourceWarning",
        "ignore::pytest.PytestUnraisableExceptionWarning",
        "ignore:.*Port 8787 is already in use.*:UserWarning",
    ):
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session")
def prefect_server():
    from groupplug.prefect._server import PrefectServer

    server = PrefectServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dask_cluster(prefect_server):
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=4, processes=True,
                           dashboard_address=None, host="127.0.0.1")
    try:
        yield cluster
    finally:
        cluster.close()
