"""Stopping a member's work from its watcher thread, the way ``execution_timeout`` does.

Airflow's own timeout (``airflow.sdk.execution_time.timeout``) arms ``SIGALRM`` whose handler
raises in the task's main thread, then the task runner calls ``on_kill()``. The task runner
already owns ``SIGTERM`` (its handler calls ``on_kill``), the supervisor resets ``SIGINT``,
``SIGTERM`` and ``SIGUSR2`` in the task process, and ``SIGALRM`` belongs to ``execution_timeout``;
so groupplug uses ``SIGUSR1``, unused by the task process. The watcher thread sends it to the
main thread with ``pthread_kill``; the handler raises :class:`GroupStop` (a ``BaseException``, so a
member's ``except Exception`` cannot swallow it) and the wrapper calls the operator's ``on_kill``.

``time.sleep(600)``, a busy loop and a read from a subprocess pipe are all interrupted by the
handler (PEP 475 retries a system call only when the handler returns). If the main thread is
stuck where no Python code runs, the watcher calls ``on_kill()`` itself after
:data:`GRACE` seconds (which ends a subprocess-based operator's wait). When the work does not
run in the main thread (``dag.test()`` from a worker thread), an asynchronous exception is set
on the working thread instead, which stops Python code but not a blocking C call.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNAL = signal.SIGUSR1
#: Seconds the watcher lets the main thread react before calling ``on_kill`` itself.
GRACE = 3.0

log = logging.getLogger(__name__)


class GroupStop(BaseException):  # noqa: N818 - a control-flow signal, like KeyboardInterrupt
    """Raised in a member's working thread when its group stops or restarts it."""


class Stopper:
    """Arms the stop signal around a piece of work; :meth:`stop` interrupts it once."""

    def __init__(self, on_kill: Callable[[], Any]):
        self._on_kill = on_kill
        self._thread = threading.current_thread()
        self._lock = threading.Lock()
        self._armed = False
        self._fired = False
        self._left = threading.Event()
        self.killed = False
        self._previous: Any = None
        self._uses_signal = self._thread is threading.main_thread()

    def __enter__(self) -> Stopper:
        if self._uses_signal:
            self._previous = signal.signal(STOP_SIGNAL, self._handle)
        self._armed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._armed = False
        self._left.set()
        if self._uses_signal:
            signal.signal(STOP_SIGNAL, self._previous or signal.SIG_DFL)

    def _handle(self, signum: int, frame: Any) -> None:
        if self._armed and self._fired:
            raise GroupStop()

    def stop(self) -> None:
        """Interrupt the work (from another thread); ``on_kill`` if it does not react."""
        with self._lock:
            if not self._armed or self._fired:
                return
            self._fired = True
            if self._uses_signal:
                signal.pthread_kill(self._thread.ident or 0, STOP_SIGNAL)
            else:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self._thread.ident or 0), ctypes.py_object(GroupStop))
        if not self._left.wait(GRACE):
            log.warning("groupplug: the member did not react to its stop in %.0fs; calling "
                        "on_kill()", GRACE)
            self.kill()

    def kill(self) -> None:
        """Call the operator's ``on_kill`` once (Airflow's way to stop what it started)."""
        with self._lock:
            if self.killed:
                return
            self.killed = True
        try:
            self._on_kill()
        except Exception:  # noqa: BLE001 - a failing on_kill must not hide the stop itself
            log.exception("groupplug: on_kill() failed")

    @property
    def fired(self) -> bool:
        return self._fired
