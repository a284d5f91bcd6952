"""A run's interrupt (Ctrl-C, SIGTERM): asked for once by the command line, seen by every engine.

Why not only ``KeyboardInterrupt``: it lands in the main thread wherever that thread happens to
be (inside Prefect's flow engine, in a REST call to Airflow) and leaves member threads, task
runners and remote services running, with their records ``RUNNING``. Instead, the signal
handler calls :func:`request`; each engine stops its own members the way it stops them for a
finished lead (callbacks registered with :func:`on_interrupt`, or a check of
:func:`requested` in its loop), lets the run end with every record final, and the command line
reports the run as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_event = threading.Event()
_reason = ""
_failure = False
_callbacks: list[Callable[[str], None]] = []
_cleanups: list[Callable[[], None]] = []
_known_report: Callable[[], Any] | None = None


def request(reason: str, *, failure: bool = False) -> bool:
    """Ask the running run to stop, saying why (``interrupted (SIGINT)``; with ``failure``,
    an engine service that died); True the first time. Callbacks run in a thread of their
    own: this is called from a signal handler."""
    global _reason, _failure
    with _lock:
        if _event.is_set():
            return False
        _reason, _failure = reason, failure
        _event.set()
        callbacks = list(_callbacks)
    log.info("run %s: stopping every member", reason)
    for callback in callbacks:
        threading.Thread(target=_call, args=(callback, reason), daemon=True,
                         name="groupplug-interrupt").start()
    return True


def requested() -> str | None:
    """Why the run was interrupted, or None while it was not."""
    return _reason if _event.is_set() else None


def failed() -> bool:
    """Whether the stop was asked because the engine failed (not by the user)."""
    return _event.is_set() and _failure


def add_cleanup(cleanup: Callable[[], None]) -> Callable[[], None]:
    """What must still happen if the process has to end without unwinding (stop the
    processes of a service, remove its temporary home); returns the function that removes
    it again."""
    with _lock:
        _cleanups.append(cleanup)

    def remove() -> None:
        with _lock:
            if cleanup in _cleanups:
                _cleanups.remove(cleanup)

    return remove


def run_cleanups() -> None:
    with _lock:
        cleanups = list(reversed(_cleanups))
    for cleanup in cleanups:
        _call(lambda reason, c=cleanup: c(), "cleanup")


def set_known_report(provider: Callable[[], Any] | None) -> None:
    """Where the report of the run so far is read from if the run must end abruptly."""
    global _known_report
    _known_report = provider


def known_report() -> Any:
    """The report of the run so far (a :class:`~groupplug.report.RunReport`), or None."""
    try:
        return _known_report() if _known_report is not None else None
    except Exception:  # noqa: BLE001 - a report half-updated is not worth a crash
        return None


def wait(timeout: float) -> bool:
    """Block up to ``timeout`` seconds for an interrupt; whether one came."""
    return _event.wait(timeout)


def reset() -> None:
    """Forget an interrupt (a process that runs several workflows, tests)."""
    global _reason, _failure, _known_report
    with _lock:
        _event.clear()
        _reason, _failure, _known_report = "", False, None


def subscribe(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call ``callback(reason)`` when the run is interrupted (at once, in this thread, when it
    already was); returns the function that unsubscribes it."""
    with _lock:
        _callbacks.append(callback)
        already = _reason if _event.is_set() else None
    if already is not None:
        _call(callback, already)

    def unsubscribe() -> None:
        with _lock:
            if callback in _callbacks:
                _callbacks.remove(callback)

    return unsubscribe


@contextlib.contextmanager
def on_interrupt(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(reason)`` if the run is interrupted while the block runs (at once when
    it already was)."""
    unsubscribe = subscribe(callback)
    try:
        yield
    finally:
        unsubscribe()


def _call(callback: Callable[[str], None], reason: str) -> None:
    try:
        callback(reason)
    except Exception:  # noqa: BLE001 - one engine's failure to stop must not stop the others
        log.exception("stopping on interrupt failed in %r", callback)
