"""Engine databases kept once per engine version: saved once, copied only into new homes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from groupplug import db_template

NAME = "engine-1.0"


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
    db_template.save(NAME, tmp_path / "first.db")
    template = db_template.template_path(NAME)
    assert template is not None and template.parent == cache and _rows(template) == 3
    _database(tmp_path / "other.db", 5)
    db_template.save(NAME, tmp_path / "other.db")  # one per engine version: the first stays
    assert _rows(template) == 3
    assert db_template.seed(NAME, tmp_path / "new.db") is True
    assert _rows(tmp_path / "new.db") == 3
    # a home kept from an earlier run keeps its own database
    assert db_template.seed(NAME, tmp_path / "other.db") is False
    assert _rows(tmp_path / "other.db") == 5
    assert not list(cache.glob("*.partial"))


def test_turned_off_nothing_is_kept_or_copied(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(db_template.ENV, "0")
    _database(tmp_path / "first.db", 1)
    db_template.save(NAME, tmp_path / "first.db")
    assert not cache.exists()
    assert db_template.seed(NAME, tmp_path / "new.db") is False
    assert not (tmp_path / "new.db").exists()

