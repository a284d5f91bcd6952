"""The core never imports an engine: ``import groupplug`` works where neither is installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from groupplug.exceptions import MissingExtraError

CODE = """
import sys
import groupplug, groupplug.cli, groupplug.runner, groupplug.validation, groupplug.plugins
groupplug.plugins.get_plugin_manager()  # loads the adapters' entry points too
engines = ("airflow", "prefect", "fastapi", "sqlalchemy")
print(sorted(m for m in sys.modules if m.split(".")[0] in engines))
"""


def test_core_and_entry_points_import_no_engine():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]", result.stdout
    assert "Warning" not in result.stderr, result.stderr


@pytest.mark.parametrize(("adapter", "module"), [("airflow", "airflow"), ("prefect", "prefect")])
def test_missing_extra_names_the_pip_command(adapter, module):
    try:
        __import__(module)
    except ImportError:
        pass
    else:
        pytest.skip(f"{module} is installed in this environment")
    expected = rf"\[{adapter}\] extra \(from a clone: pip install '\.\[{adapter}\]'\)"
    with pytest.raises(MissingExtraError, match=expected):
        exec(f"from groupplug.{adapter} import group")  # noqa: S102
