"""Where Prefect 3 keeps what groupplug uses, and the check that it is installed.

Why a module: Prefect moves things between minor versions (3.9 needs a certifi release the
registry here does not serve, so we pin below it); one file changes when it moves them again.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Iterator

from groupplug.exceptions import MissingExtraError


def require_prefect() -> None:
    """Raise :class:`MissingExtraError` (``pip install 'groupplug[prefect]'``) if absent."""
    if importlib.util.find_spec("prefect") is None:
        raise MissingExtraError("prefect", "prefect")


@contextlib.contextmanager
def signals_stay_ours() -> Iterator[None]:
    """While ``groupplug run`` handles Ctrl-C and SIGTERM itself, keep Prefect's flow engine
    from replacing the SIGTERM handler.

    Why: Prefect 3.8's flow engine wraps each run in ``capture_sigterm()``, which installs a
    handler raising ``TerminationSignal`` wherever the main thread is; measured, a SIGTERM then
    crashed the run with a traceback (exit 1) while the members' threads and processes were
    never told to stop. groupplug's handler instead stops every member through its group and
    lets the run end with every record final. Outside ``groupplug run`` nothing changes.
    """
    from groupplug import _signals

    engine = importlib.import_module("prefect.flow_engine")
    if not _signals.active() or not hasattr(engine, "capture_sigterm"):
        yield
        return
    saved = engine.capture_sigterm
    engine.capture_sigterm = contextlib.nullcontext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        engine.capture_sigterm = saved  # type: ignore[attr-defined]
