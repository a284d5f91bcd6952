"""The conformance table on a real Airflow with Python members: every scenario as a hand-written
DAG of ``@task`` functions inside ``group(...)`` blocks (setups as callables), run next to the
shell variant (``test_conformance.py``) and checked against the same expectations.

The members' work is Python (``tests/airflow/support/groupplug_pyconf.py`` does each scenario's
script with ``time.sleep`` and exceptions), so stopping them exercises the native member wrap.
"""

from __future__ import annotations

import json
import uuid

import pytest

from groupplug.loader import load_workflow
from groupplug.spec import Group
from tests.airflow.test_conformance import run_in_batches
from tests.core.conformance import SCENARIOS

pytestmark = pytest.mark.slow

HEADER = '''from datetime import timedelta

from airflow.sdk import DAG, task
from groupplug_pyconf import run_script

from groupplug.airflow import group


@task
def work(script):
    run_script(script)


with DAG({dag_id!r}, schedule=None, catchup=False):
'''


def _group_lines(group: Group, indent: str) -> list[str]:
    args = [repr(group.name)]
    if group.lead is not None and group.tasks:
        args.append(f"lead={group.lead.name!r}")
    if not group.barrier:
        args.append("barrier=False")
    if group.barrier_timeout:
        args.append(f"barrier_timeout={group.barrier_timeout!r}")
    if not group.ignore_nonlead_status:
        args.append("ignore_nonlead_status=False")
    if group.upstream:
        args.append(f"upstream={list(group.upstream)!r}")
    setups = {t.name: t.setup for t in group.tasks if t.setup}
    if setups:
        body = ", ".join(f"{n!r}: (lambda s={s!r}: run_script(s))" for n, s in setups.items())
        args.append(f"setup={{{body}}}")
    lines = [f"{indent}with group({', '.join(args)}):"]
    for task in group.tasks:
        override = f"task_id={task.name!r}"
        if task.retries:
            override += (f", retries={task.retries}, "
                         f"retry_delay=timedelta(seconds={task.retry_delay:g})")
        lines.append(f"{indent}    work.override({override})({task.command!r})")
    for child in group.children:
        lines += _group_lines(child, indent + "    ")
    return lines


def python_dag(workflow, dag_id: str) -> str:
    lines = [HEADER.format(dag_id=dag_id).rstrip("\n")]
    for group in workflow.groups:
        lines += _group_lines(group, "    ")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def reports(airflow_server, tmp_path_factory):
    client = airflow_server.client()
    runs = {}
    for scenario in SCENARIOS:
        workflow = load_workflow(scenario.spec_yaml(str(tmp_path_factory.mktemp(scenario.id))))
        dag_id = f"pyconf_{scenario.id.replace('-', '_')}_{uuid.uuid4().hex[:4]}"
        (airflow_server.dags_folder / f"{dag_id}.py").write_text(python_dag(workflow, dag_id))
        runs[scenario.id] = (workflow, dag_id)
    return run_in_batches(client, runs)


def test_python_dag_source_is_a_grouped_dag_of_tasks(tmp_path):
    scenario = next(s for s in SCENARIOS if s.id == "barrier-releases-together")
    source = python_dag(load_workflow(scenario.spec_yaml(str(tmp_path))), "x")
    compile(source, "x.py", "exec")
    assert "work.override(task_id='w1')('sleep 1')" in source
    assert "setup={'lead': (lambda s='sleep 0': run_script(s))" in source


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario_with_python_members(scenario, reports):
    report = reports[scenario.id]
    assert scenario.check(report) == [], json.dumps(report.to_json())
