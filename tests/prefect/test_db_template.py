"""The embedded Prefect server starts from a migrated database kept once per Prefect version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from groupplug import db_template


def _run_twice_with_a_fresh_cache(tmp_path: Path) -> list[tuple[dict, str]]:
    """``groupplug run --engine prefect`` of a one-task workflow twice with its own template
    cache: each run's report and engine log."""
    spec = tmp_path / "w.yaml"
    spec.write_text("workflow:\n  name: templated\n  groups:\n  - name: g\n    tasks:\n"
                    "    - {name: only, command: 'echo hello'}\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop(db_template.ENV, None)
    runs = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "groupplug.cli", "run", str(spec), "--engine", "prefect",
             "--json"], capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        logs = re.search(r"engine logs: (\S+)", result.stderr)
        assert logs, result.stderr
        runs.append((json.loads(result.stdout), Path(logs.group(1)).read_text()))
    return runs


def test_the_second_cli_run_starts_from_the_template(tmp_path):
    (first, log1), (second, log2) = _run_twice_with_a_fresh_cache(tmp_path)
    assert "database template kept at" in log1 and "already migrated" not in log1
    assert "already migrated" in log2 and "template kept" not in log2
    for report in (first, second):
        assert report["state"] == "succeeded"
        assert report["groups"]["g"]["members"]["only"]["state"] == "succeeded"


def test_a_kept_home_is_never_made_a_template(tmp_path, monkeypatch):
    """A home kept between runs (``GROUPPLUG_PREFECT_HOME``) holds their runs: it is used as
    it is, and never copied into other runs' servers."""
    from groupplug.prefect._server import PrefectServer, _template_name

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(db_template.ENV, raising=False)
    home = tmp_path / "kept"
    PrefectServer(home=home).start().stop()  # a new database: kept as the template
    template = db_template.template_path(_template_name())
    assert template is not None and template.is_file()
    template.unlink()
    PrefectServer(home=home).start().stop()  # the kept database: used, not kept
    assert (home / "prefect.db").is_file() and not template.exists()
