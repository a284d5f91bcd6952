"""Ctrl-C and SIGTERM during ``groupplug run``: stop the run, never abandon it.

The first SIGINT or SIGTERM asks the engine to stop (:func:`groupplug.interrupts.request`): it
stops every member, ends the run with its records final, stops the services it started and
returns its report, which the command line prints as ``interrupted``. A second signal (or no
end within :data:`FORCE_AFTER` seconds) raises ``KeyboardInterrupt`` in the main thread: the
engine's cleanup (``finally`` blocks that stop services and processes) still runs; further
signals are ignored so that cleanup is not cut short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from . import interrupts

#: Seconds an engine gets to stop cooperatively before the main thread is interrupted.
FORCE_AFTER = 25.0
#: Seconds a run whose engine service died gets to end by itself before the process ends
#: with what is known (a client retrying a dead server would otherwise hold it for minutes).
FAIL_AFTER = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_active = threading.Event()


def active() -> bool:
    """Whether ``groupplug run`` handles Ctrl-C and SIGTERM now (engines then keep theirs
    from taking the signals over)."""
    return _active.is_set()


@contextlib.contextmanager
def stopping_on_signals(last_words: Callable[[], int] | None = None) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the run (module docstring). ``last_words`` prints what is
    known and returns the exit code when an engine failure forces the process to end."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; an embedding program handles signals
        return
    done = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if interrupts.request(f"interrupted ({name})"):
            print(f"groupplug: {name}: stopping the run (again to stop at once)",
                  file=sys.stderr, flush=True)
            return
        # Asked before (a signal, or an engine whose service died): stop at once.
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        print(f"groupplug: {name}: stopping at once", file=sys.stderr, flush=True)
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    unsubscribe = interrupts.subscribe(lambda reason: _force_later(done, last_words))
    _active.set()
    try:
        yield
    finally:
        _active.clear()
        done.set()
        unsubscribe()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _force_later(done: threading.Event, last_words: Callable[[], int] | None) -> None:
    """Runs in a thread of its own (interrupt callbacks do)."""
    if interrupts.failed() and last_words is not None:
        if done.wait(FAIL_AFTER):
            return
        code = last_words()
        interrupts.run_cleanups()  # stop what the services started, remove their homes
        os._exit(code)
    if not done.wait(FORCE_AFTER):
        print(f"groupplug: the run did not stop within {FORCE_AFTER:g}s; interrupting it",
              file=sys.stderr, flush=True)
        # A real signal, not _thread.interrupt_main(): it also wakes a main thread blocked in
        # a lock or a socket, where the handler then raises KeyboardInterrupt.
        os.kill(os.getpid(), signal.SIGINT)
