"""Keep Prefect's per-request HTTP lines out of a ``groupplug run`` on Prefect.

At INFO, httpx logs one line per API call (31 for a one-task workflow, measured), even into the
engine log file. The run's story itself (groups ending, barriers released, members stopped and
why) is told by :mod:`groupplug.story` from the reports, the same way on every engine.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

#: Loggers that speak per request, not per step of the run.
CHATTY = ("httpx", "httpcore", "websockets", "prefect.client", "prefect.events.clients")


@contextlib.contextmanager
def telling_story(pm: object | None = None) -> Iterator[None]:
    """Hold the HTTP client loggers at WARNING while a run goes on. (``pm`` is unused: the
    story is no longer told through hooks here.)"""
    saved = {name: logging.getLogger(name).level for name in CHATTY}
    for name in CHATTY:
        if logging.getLogger(name).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
