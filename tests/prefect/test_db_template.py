"""The embedded Prefect server starts from a migrated database kept once per Prefect version."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from groupplug.prefect import db_template

ROOT = Path(__file__).resolve().parents[2]
ONE_TASK = """
workflow:
  name: templated
  groups:
  - name: g
    tasks:
    - {name: only, command: "echo hello"}
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(db_template.ENV, raising=False)
    return tmp_path / "cache" / "groupplug"


def _database(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("create table if not exists t (x)")
        db.executemany("insert into t values (?)", [(i,) for i in range(rows)])


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("select count(*) from t").fetchone()[0]


def test_saved_once_then_seeds_only_new_databases(cache, tmp_path):
    _database(tmp_path / "first.db", 3)
    db_template.save(tmp_path / "first.db")
    template = db_template.template_path()
    assert template is not None and template.parent == cache and _rows(template) == 3
    _database(tmp_path / "other.db", 5)
    db_template.save(tmp_path / "other.db")  # one per version: the first stays
    assert _rows(template) == 3
    assert db_template.seed(tmp_path / "new.db") == db_template.SKIP_SETUP
    assert _rows(tmp_path / "new.db") == 3
    # a home kept from an earlier run keeps its own database
    assert db_template.seed(tmp_path / "other.db") == {} and _rows(tmp_path / "other.db") == 5
    assert not list(cache.glob("*.partial"))


def test_turned_off_nothing_is_kept_or_copied(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(db_template.ENV, "0")
    _database(tmp_path / "first.db", 1)
    db_template.save(tmp_path / "first.db")
    assert not cache.exists()
    assert db_template.seed(tmp_path / "new.db") == {} and not (tmp_path / "new.db").exists()


def _run(tmp_path: Path, env: dict[str, str]) -> tuple[dict, str]:
    spec = tmp_path / "w.yaml"
    spec.write_text(ONE_TASK)
    result = subprocess.run(
        [sys.executable, "-m", "groupplug.cli", "run", str(spec), "--engine", "prefect", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = re.search(r"engine logs: (\S+)", result.stderr)
    assert logs, result.stderr
    return json.loads(result.stdout), Path(logs.group(1)).read_text()


def test_the_second_cli_run_starts_from_the_template(cache, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parent)}
    first, log = _run(tmp_path, env)
    assert "prefect database template kept at" in log and "no migrations" not in log
    second, log = _run(tmp_path, env)
    assert "prefect database copied from" in log and "template kept" not in log
    for report in (first, second):
        assert report["state"] == "succeeded"
        assert report["groups"]["g"]["members"]["only"]["state"] == "succeeded"
