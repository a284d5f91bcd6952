"""OSMO's task fields on Airflow: a rendered workflow run by ``dag.test()`` (see
:mod:`tests.core.osmo_fields`; the local engine runs the same workflow in tests/core/test_launch).

``dag.test()`` needs a migrated database and the DAG inside a configured dags folder, so the run
is a subprocess with its own AIRFLOW_HOME, working directory and ``GROUPPLUG_DATA_DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core import osmo_fields

DAG_FILE = Path(__file__).with_name("_dagtest_osmo_fields.py")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    base = tmp_path_factory.mktemp("osmo")
    home, work = base / "airflow", base / "work"
    (home / "dags").mkdir(parents=True)
    work.mkdir()
    shutil.copy(DAG_FILE, home / "dags" / "osmo_fields.py")
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "GROUPPLUG_DATA_DIR": str(base / "data"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True,
                   capture_output=True, timeout=180)
    done = subprocess.run([sys.executable, str(home / "dags" / "osmo_fields.py")], env=env,
                          cwd=work, capture_output=True, text=True, timeout=240)
    lines = [x for x in done.stdout.splitlines() if x.startswith("GROUPPLUG ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("GROUPPLUG ")), done, base


@pytest.mark.slow
def test_airflow_runs_every_osmo_field(ran):
    result, done, base = ran
    full = result["groupplug_osmo_fields"]
    assert full["run"] == "success", full
    run_dir = Path(full["run_dir"])
    assert run_dir.is_relative_to(base / "data" / "airflow" / "groupplug_osmo_fields")
    osmo_fields.check_outputs(run_dir / "outputs", base / "work")
    output = (done.stdout + done.stderr).splitlines()
    # One line per run and image, whichever of the two members that name it runs first.
    assert len(osmo_fields.image_warnings(output)) == 1, output[-50:]


@pytest.mark.slow
def test_airflow_member_fails_when_its_input_did_not_run_here(ran):
    result, _, _ = ran
    read_only = result["groupplug_osmo_fields_read"]
    assert read_only["run"] == "failed"
    assert read_only["read"]["state"] == "failed"
    reason = read_only["read"]["reason"]
    missing = Path(read_only["run_dir"]) / "outputs" / "write"
    assert "'write'" in reason and str(missing) in reason, reason


def test_osmo_tokens_are_kept_from_jinja_and_other_templates_still_render():
    from groupplug.airflow.operators import GroupSetupOperator, ShellOperator

    command = "cat {{input:0}}/x > {{ output }}/y; echo {{ ds }}"
    # Jinja alone renders an unknown {{output}} as an empty string: a silent wrong path.
    expected = "cat {{input:0}}/x > {{ output }}/y; echo 2026-01-01"
    shell = ShellOperator(task_id="t", command=command)
    assert shell.render_template(command, {"ds": "2026-01-01"}) == expected
    setup = GroupSetupOperator(task_id="t__setup", member="t", info={}, command=command)
    assert setup.render_template(command, {"ds": "2026-01-01"}) == expected
