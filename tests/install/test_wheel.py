"""The built wheel installs into a fresh environment with its entry points and data files."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

from .conftest import REPO, run

# What the installed distribution must announce (pyproject.toml's scripts and entry points).
ENTRY_POINTS = {
    ("console_scripts", "groupplug"): "groupplug.cli:main",
    ("airflow.plugins", "groupplug"): "groupplug.airflow.plugin:GroupplugAirflowPlugin",
    ("groupplug", "airflow"): "groupplug.airflow.engine",
    ("groupplug", "prefect"): "groupplug.prefect.engine",
}
# Where each source folder lands in the installed package (pyproject's package-dir).
PACKAGES = {"src/groupplug": "groupplug", "airflow_plugin": "groupplug/airflow",
            "prefect_ext": "groupplug/prefect"}

PROBE = """
import json, sys
from importlib.metadata import distribution
dist = distribution("groupplug")
print(json.dumps({
    "entry_points": [[e.group, e.name, e.value] for e in dist.entry_points],
    "files": [str(f) for f in dist.files if not str(f).startswith("..")],
    "py_typed": dist.locate_file("groupplug/py.typed").is_file(),
}))
"""


def _tracked_package_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files", *PACKAGES], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.split()
    files = set()
    for path in listed:
        folder = next(f for f in PACKAGES if path.startswith(f + "/"))
        files.add(PACKAGES[folder] + path[len(folder):])
    return files


def test_wheel_holds_every_package_file(wheel):
    # A data file missing from package-data (py.typed, the JSON Schema) installs nowhere.
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_tracked_package_files() - names)
    assert not missing, f"{wheel.name} lacks {missing}"


def test_wheel_installs_with_its_entry_points_in_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)

    version = run(venv / "bin" / "groupplug", "--version").stdout
    expected = wheel.name.split("-")[1]
    assert version == f"groupplug {expected}\n"

    probe = json.loads(run(python, "-c", PROBE, cwd=tmp_path).stdout)
    found = {(g, n): v for g, n, v in probe["entry_points"]}
    assert {k: found.get(k) for k in ENTRY_POINTS} == ENTRY_POINTS
    assert probe["py_typed"]
    assert "groupplug/workflow.schema.json" in probe["files"]
    # The core imports with neither engine installed; an engine's API names the extra it needs.
    missing = run(python, "-c", "import groupplug.airflow as a, groupplug.cli\n"
                  "try: a.dag_from_yaml\n"
                  "except ImportError as e: print(e)", cwd=tmp_path).stdout
    assert "pip install '.[airflow]'" in missing
