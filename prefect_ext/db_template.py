"""A migrated, empty Prefect database, made once per Prefect version, that each embedded server
starts from.

Why: on a new SQLite database ``prefect server start`` runs every migration and registers every
block type before it answers. Measured on Prefect 3.8.8 (2 cores, idle): 17.0 s to a healthy
server from an empty home, 5.6 s from a copy of a migrated one with both steps turned off. Every
``groupplug run --engine prefect`` starts such a server.

The copy is taken with SQLite's online backup right after a server made by the slow path first
answers (migrated and registered, before any flow ran), written under a temporary name and
renamed, so no reader sees half of one. It lives in ``$XDG_CACHE_HOME/groupplug`` (by default
``~/.cache/groupplug``) under the Prefect version's name; ``GROUPPLUG_PREFECT_DB_TEMPLATE=0``
turns it off. A home that already has a database (``GROUPPLUG_PREFECT_HOME`` kept from an earlier
run) is used as it is.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)

#: Set to ``0`` to start every embedded server from an empty database (migrations included).
ENV = "GROUPPLUG_PREFECT_DB_TEMPLATE"
#: The settings that skip what the template already holds.
SKIP_SETUP = {
    "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
}


def template_path() -> Path | None:
    """Where this Prefect version's template is (or would be); None when turned off."""
    if os.environ.get(ENV, "1") == "0":
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "groupplug" / f"prefect-{version('prefect')}.db"


def seed(database: Path) -> dict[str, str]:
    """Copy the template to ``database`` when there is one and ``database`` does not exist yet;
    the server settings that go with it (none when the server must set the database up)."""
    path = template_path()
    if path is None or database.exists() or not path.is_file():
        return {}
    _backup(path, database, source_mode="immutable=1")  # nothing writes a template
    log.info("prefect database copied from %s (no migrations to run)", path)
    return dict(SKIP_SETUP)


def save(database: Path) -> None:
    """Keep ``database`` (just migrated, no run in it yet) as this version's template."""
    path = template_path()
    if path is None or path.exists():
        return
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _backup(database, partial, source_mode="mode=ro")
        os.replace(partial, path)
    except (OSError, sqlite3.Error) as error:
        # Only a cache: the next server sets its database up the slow way and tries again.
        log.warning("could not keep the prefect database template %s: %s", path, error)
        partial.unlink(missing_ok=True)
        return
    log.info("prefect database template kept at %s", path)


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
