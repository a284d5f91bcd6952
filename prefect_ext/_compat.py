"""Where Prefect 3 keeps what groupplug uses, and the check that it is installed.

Why a module: Prefect moves things between minor versions (3.9 needs a certifi release the
registry here does not serve, so we pin below it); one file changes when it moves them again.
"""

from __future__ import annotations

import importlib.util

from groupplug.exceptions import MissingExtraError


def require_prefect() -> None:
    """Raise :class:`MissingExtraError` (``pip install 'groupplug[prefect]'``) if absent."""
    if importlib.util.find_spec("prefect") is None:
        raise MissingExtraError("prefect", "prefect")
