"""``groupplug run DAG_FILE.py [--dag-id ID] --engine airflow``: a hand-written DAG file, run.

A small loader of the file (:data:`LOADER`: it runs the file where it lies) goes into the dags
folder of an :class:`EmbeddedAirflow` (or the one in ``options["airflow"]``); the
dag-processor parses it (an import error is a
:class:`GroupplugError` carrying Airflow's own stack trace, exit 2), the chosen DAG is
triggered through the REST API and followed, and the report is read from what the run left:

- every groupplug group's exit gate (``<path>.__gate__``) pushed XCom ``groupplug_status``
  (``{"state", "lead", "members": {task id inside the group: MemberReport}}``), decided by the
  core status engine inside the run; the group's key is its dotted TaskGroup path;
- every other task of the DAG is a singleton group of itself (DESIGN section 1), its state
  taken from its task instance, so a plain task that failed next to succeeding groups fails the
  report as it failed the DAG run;
- TaskGroups that only hold groups appear as parents with a rolled-up state.

Like :mod:`groupplug.airflow.runner` it never imports Airflow: everything goes through the API.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from groupplug import interrupts
from groupplug.exceptions import GroupplugError
from groupplug.report import RunReport

from . import abort, naming
from .runstate import build_report

log = logging.getLogger(__name__)


def run_dag_file(path: str, dag_id: str | None, options: Mapping[str, Any]) -> RunReport:
    """Run DAG ``dag_id`` of the file at ``path`` (None: its only DAG); its report."""
    source = Path(path).resolve()
    if not source.is_file():
        raise GroupplugError(f"{path}: no such file")
    from .stack import stack_airflow

    airflow = options.get("airflow") or stack_airflow(options)
    if airflow is not None:
        return _run(airflow, source, dag_id, options)
    from ._server import EmbeddedAirflow

    with EmbeddedAirflow() as airflow:
        return _run(airflow, source, dag_id, options)


def _run(airflow: Any, source: Path, dag_id: str | None, options: Mapping[str, Any]) -> RunReport:
    client = airflow.client()
    placed = place(airflow.dags_folder, source)
    found = wait_for_file(client, airflow.dags_folder, placed,
                          float(options.get("parse_timeout", 120)))
    chosen = choose_dag(source, found, dag_id)
    run_id = f"groupplug__{uuid.uuid4().hex[:10]}"
    client.trigger(chosen, run_id)
    log.info("triggered %s run %s on %s", chosen, run_id, airflow.url)
    final = follow(client, chosen, run_id, float(options.get("timeout", 3600)), services=airflow)
    if final == "interrupted":  # no gate decided: what the task instances say, marked so
        report = build_report(chosen, run_id, client.tasks(chosen),
                              client.task_instances(chosen, run_id), lambda gate: None, live=True)
        return abort.mark_interrupted(report, interrupts.requested() or "interrupted")
    report = read_report(client, chosen, run_id)
    if final == "failed" and report.state == "succeeded":
        raise GroupplugError(  # never report a run Airflow failed as a success
            f"Airflow marked run {run_id} of {chosen} failed, yet every group succeeded; "
            f"see the task logs in {airflow.home / 'logs'} (GROUPPLUG_KEEP_AIRFLOW_HOME=1 keeps "
            "them)")
    return report


LOADER = """\
# Written by groupplug: runs the Airflow DAG file {source!r} where it lies, so paths built from
# its own __file__ and modules next to it work as in your dags folder. Its DAGs are this file's.
import runpy
import sys

if {folder!r} not in sys.path:
    sys.path.insert(0, {folder!r})
_namespace = runpy.run_path({source!r}, run_name={name!r})
globals().update({{k: v for k, v in _namespace.items() if not k.startswith("__")}})
"""


def place(dags_folder: Path, source: Path) -> Path:
    """A loader of ``source`` in ``dags_folder``, named after it (another name if a loader of a
    different file has that one); the dag-processor never sees half a file."""
    data = LOADER.format(source=str(source), folder=str(source.parent),
                         name=f"groupplug_dagfile_{source.stem}").encode()
    target = dags_folder / source.name
    if target.exists() and target.read_bytes() != data:
        digest = hashlib.sha1(data).hexdigest()[:8]  # noqa: S324 - a name, not a secret
        target = dags_folder / f"{source.stem}_{digest}.py"
    if not target.exists():
        tmp = dags_folder / f".{target.name}.tmp"
        tmp.write_bytes(data)
        tmp.rename(target)
    return target


def wait_for_file(client: Any, dags_folder: Path, placed: Path, timeout: float) -> list[str]:
    """The ids of the DAGs the file defines, once parsed; its import error raised as one."""
    relative = str(placed.relative_to(dags_folder))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errors = client.import_errors(relative)
        if errors:
            raise GroupplugError(f"{placed.name}: the DAG file failed to import:\n"
                                 + "\n".join(errors))
        dags = client.dags_in_file(str(placed))
        if dags:
            return dags
        time.sleep(0.5)
    raise GroupplugError(
        f"{placed.name}: Airflow found no DAG in it within {timeout:.0f}s; a DAG file creates its "
        "DAGs when imported: 'with DAG(...):' at module level, or call the @dag function")


def choose_dag(source: Path, found: list[str], dag_id: str | None) -> str:
    """The DAG to run: ``dag_id``, or the file's only DAG; a usage error otherwise."""
    listed = ", ".join(found)
    if dag_id is None:
        if len(found) == 1:
            return found[0]
        raise GroupplugError(f"{source.name} defines {len(found)} DAGs ({listed}); pick one with "
                             f"--dag-id ID (or {source.name}:ID)")
    if dag_id not in found:
        raise GroupplugError(f"{source.name} has no DAG {dag_id!r}; its DAGs: {listed}")
    return dag_id


def follow(client: Any, dag_id: str, run_id: str, timeout: float, services: Any = None) -> str:
    """Wait for the run to end; its final Airflow state, or ``interrupted`` when Ctrl-C or
    SIGTERM ended it (:mod:`.abort`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if abort.check(client, dag_id, run_id, services) is not None:
            return "interrupted"
        state = client.dag_run(dag_id, run_id)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(1.0)
    raise GroupplugError(f"Airflow run {run_id} of {dag_id} did not finish in {timeout:.0f}s")


def read_report(client: Any, dag_id: str, run_id: str) -> RunReport:
    """The finished run's report (see :mod:`groupplug.airflow.runstate`)."""
    return build_report(
        dag_id, run_id, client.tasks(dag_id), client.task_instances(dag_id, run_id),
        lambda gate: client.xcom(dag_id, run_id, gate, naming.XCOM_STATUS), live=False)
