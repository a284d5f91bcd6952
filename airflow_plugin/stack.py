"""``groupplug run ... --engine airflow --stack``: the Airflow of ``scripts/stack up``.

The stack (PostgreSQL, Redis, Celery workers; see :mod:`groupplug.stack`) runs on this machine,
so a run writes its DAG file into the stack's dags folder as it does into the embedded one's,
and talks to its api-server with the stack's user; members run on the Celery workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from groupplug import stack


class StackAirflow:
    """What the runners use of an Airflow: ``home``, ``dags_folder``, ``url``, ``client()``."""

    def __init__(self, state: Mapping[str, Any]):
        airflow = state["airflow"]
        self.home = Path(airflow["home"])
        self.dags_folder = self.home / "dags"
        self.port = int(airflow["port"])
        self.user, self.password = airflow["user"], airflow["password"]
        self.workers = list(airflow["workers"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):  # noqa: ANN201 - the client module loads on use, as in _server
        from .client import AirflowClient

        return AirflowClient(self.url, self.user, self.password)


def stack_airflow(options: Mapping[str, Any]) -> StackAirflow | None:
    """The stack's Airflow when the run asks for it (``--stack``, ``GROUPPLUG_STACK=1``)."""
    if not stack.requested(options):
        return None
    state = stack.load()
    stopped = [name for name, pid in state["pids"].items() if not stack.alive(pid)]
    if stopped:
        from groupplug.exceptions import GroupplugError

        raise GroupplugError(f"--stack: the stack in {state['dir']} has stopped services "
                             f"({', '.join(sorted(stopped))}); 'scripts/stack up' restarts it")
    return StackAirflow(state)
