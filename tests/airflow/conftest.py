"""Airflow test set-up: a private AIRFLOW_HOME before Airflow is imported, one real Airflow.

Airflow reads its configuration when first imported, so the environment is set here, at
collection time. ``airflow_server`` is one embedded Airflow (api-server, scheduler,
dag-processor, triggerer on loopback) shared by every integration test of the session.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="groupplug-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/unit.db"
os.environ.setdefault("AIRFLOW__USAGE_DATA_COLLECTION__ENABLED", "False")
os.environ.setdefault("SCARF_ANALYTICS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def pytest_configure(config):
    # Airflow 3.3 and its providers emit these on import and DAG parsing; they are not ours.
    for line in (
        "ignore::DeprecationWarning:airflow.*",
        "ignore::DeprecationWarning:pydantic.*",
        "ignore::PendingDeprecationWarning",
        "ignore:.*is deprecated.*:DeprecationWarning",
        "ignore::airflow.exceptions.RemovedInAirflow4Warning",
        "ignore::ResourceWarning",
        # Airflow 3.1 warns when a newer standard provider imports names it moved; not ours.
        "ignore:The `airflow.* attribute is deprecated:FutureWarning",
    ):
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session")
def airflow_server():
    from groupplug.airflow._server import EmbeddedAirflow

    # support/ holds a test trigger the triggerer must import (a deferred member's cleanup).
    support = str(Path(__file__).with_name("support"))
    path = os.pathsep.join(p for p in (support, os.environ.get("PYTHONPATH", "")) if p)
    server = EmbeddedAirflow(parallelism=24, extra_env={"PYTHONPATH": path}).start()
    try:
        yield server
    finally:
        server.stop()
