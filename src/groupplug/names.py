"""Name rules shared by validation and the adapters.

A name must be usable as an Airflow task/TaskGroup id and a Prefect flow/task name, so the
conservative intersection is allowed. Names are compared as OSMO compares them: case-insensitive,
with ``-`` equal to ``_`` (``Worker-1`` and ``worker_1`` collide).
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 200
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def name_key(name: str) -> str:
    """The key two names collide on."""
    return name.lower().replace("-", "_")


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a legal name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "a name must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if not NAME_PATTERN.match(name):
        return (
            f"name {name!r} is not allowed; use letters, digits, '-' and '_', starting with a "
            "letter or digit (Airflow ids and Prefect names must accept it)"
        )
    return None
