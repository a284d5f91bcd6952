"""Migrated, empty engine databases, made once per engine version, that embedded engines start
from instead of migrating a new SQLite database on every run.

Why: an embedded engine starts on a new SQLite database, and migrating it can be most of its
start: the Prefect server of ``--engine prefect`` (17.0 s from nothing, 5.6-6.8 s from a
template). The embedded Airflow does not use one (``airflow db migrate`` takes 7.5 s). The
first run keeps a copy of its database right after the migration (before anything ran), taken
with SQLite's online backup, written under a temporary name and renamed, so no reader sees half
of one. Later runs of the same engine version copy it instead.

Templates live in ``$XDG_CACHE_HOME/groupplug`` (by default ``~/.cache/groupplug``), one file per
engine and version; ``GROUPPLUG_DB_TEMPLATE=0`` turns them off. A database that already exists
(a home kept from an earlier run) is used as it is. Engine-free: each engine names its template.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

log = logging.getLogger(__name__)

#: Set to ``0`` to migrate a new database on every embedded engine start.
ENV = "GROUPPLUG_DB_TEMPLATE"


def template_path(name: str) -> Path | None:
    """Where the template ``name`` (engine and version) is, or would be; None when off."""
    if os.environ.get(ENV, "1") == "0":
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "groupplug" / f"{name}.db"


def seed(name: str, database: Path) -> bool:
    """Copy the template ``name`` to ``database`` when there is one and ``database`` does not
    exist yet; whether it did (the engine then skips its migration)."""
    path = template_path(name)
    if path is None or database.exists() or not path.is_file():
        return False
    _backup(path, database, source_mode="immutable=1")  # nothing writes a template
    log.info("database copied from %s (already migrated)", path)
    return True


def save(name: str, database: Path) -> None:
    """Keep ``database`` (just migrated, nothing run in it yet) as the template ``name``."""
    path = template_path(name)
    if path is None or path.exists():
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _backup(database, partial, source_mode="mode=ro")
        os.replace(partial, path)
    except (OSError, sqlite3.Error) as error:
        # Only a cache: the next start migrates its own database and tries again.
        log.warning("could not keep the database template %s: %s", path, error)
        partial.unlink(missing_ok=True)
        return
    log.info("database template kept at %s", path)


def _backup(source: Path, target: Path, *, source_mode: str) -> None:
    """A consistent copy (a running server writes through a WAL), whatever it is doing."""
    src = sqlite3.connect(f"file:{source}?{source_mode}", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
