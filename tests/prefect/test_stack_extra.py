"""``groupplug run --engine prefect --stack`` without prefect-dask (a user who installed
``groupplug[prefect]`` only): refused before anything runs, naming the extra to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GROUPPLUG = Path(sys.executable).with_name("groupplug")
ONE_TASK = """\
workflow:
  name: one
  groups:
    - name: solo
      tasks:
        - {name: hello, command: "touch ran"}
"""


def test_stack_without_prefect_dask_names_the_extra(tmp_path):
    # prefect_dask is installed here: a package of that name that fails to import hides it
    hidden = tmp_path / "hide" / "prefect_dask"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'prefect_dask'\")\n")
    # a stack whose services look alive (this test's pid), on a port nobody serves
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    pid = os.getpid()
    (stack_dir / "stack.json").write_text(json.dumps({
        "dir": str(stack_dir), "pids": {"prefect-server": pid, "dask-scheduler": pid},
        "prefect": {"port": 9, "dask_port": 9}}))
    spec = tmp_path / "one.yaml"
    spec.write_text(ONE_TASK)
    env = {**os.environ, "GROUPPLUG_STACK_DIR": str(stack_dir),
           "PYTHONPATH": os.pathsep.join([str(hidden.parent), str(ROOT)])}
    result = subprocess.run([str(GROUPPLUG), "run", str(spec), "--engine", "prefect", "--stack"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert "--stack on Prefect" in result.stderr, result.stderr
    assert "needs the 'prefect-dask' package" in result.stderr, result.stderr
    assert "pip install '.[stack]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "ran").exists()
