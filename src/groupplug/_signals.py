"""Ctrl-C and SIGTERM during ``groupplug run``: stop the run, never abandon it.

The first SIGINT or SIGTERM asks the engine to stop (:func:`groupplug.interrupts.request`): it
stops every member, ends the run with its records final, stops the services it started and
returns its report, which the command line prints as ``interrupted``. A second signal (or no
end within :data:`FORCE_AFTER` seconds) raises ``KeyboardInterrupt`` in the main thread: the
engine's cleanup (``finally`` blocks that stop services and processes) still runs; further
signals are ignored so that cleanup is not cut short.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import interrupts

#: Seconds an engine gets to stop cooperatively before the main thread is interrupted.
FORCE_AFTER = 25.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; an embedding program handles signals
        return
    done = threading.Event()
    count = [0]

    def handle(signum: int, frame: Any) -> None:
        count[0] += 1
        name = signal.Signals(signum).name
        if count[0] == 1:
            print(f"groupplug: {name}: stopping the run (again to stop at once)",
                  file=sys.stderr, flush=True)
            interrupts.request(f"interrupted ({name})")
            threading.Thread(target=_force_later, args=(done,), daemon=True).start()
            return
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        print(f"groupplug: {name} again: stopping at once", file=sys.stderr, flush=True)
        raise KeyboardInterrupt

    saved = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield
    finally:
        done.set()
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _force_later(done: threading.Event) -> None:
    if not done.wait(FORCE_AFTER):
        print(f"groupplug: the run did not stop within {FORCE_AFTER:g}s; interrupting it",
              file=sys.stderr, flush=True)
        _thread.interrupt_main()
