"""Where a member's Python body runs, so its group can stop it: a forked process or a thread.

A sync body in a thread cannot be stopped while it sits in a C call (``time.sleep(300)``, a
socket read): Prefect's own thread cancellation injects an exception that is only raised when
the thread next runs Python bytecode. A process can always be stopped, so members that their
group may have to stop run their body in a **forked** child by default (:class:`ForkedWork`);
``isolate="thread"`` trades that for no fork (:class:`ThreadWork`: interrupted like Prefect
does it; a body blocked in C keeps its thread until the call returns, its task run still ends
at once).

Why fork and not spawn: the body is usually a closure or a test-local ``@task``; spawning would
pickle it and start a new interpreter importing Prefect (about a second per member), where a
fork costs tens of milliseconds. Measured here (2 shared cores, Prefect 3.8.8, a group of
trivial mapped members, ``barrier=False``): 20 members 0.9 s in threads vs 1.7 s forked, 100
members 4.3 s vs 6.0 s (plain ``.map`` without a group: 0.95 s for 100); so about 15-40 ms per
forked member. The lead's end stopped four ``time.sleep(300)`` members and two
``asyncio.sleep(300)`` members 0.10-0.12 s after the lead ended (3 runs). The trade-off: a
group whose members are many and short, and never need stopping mid-call, can pass
``isolate="thread"``; a lead that nobody can stop (non-lead failures ignored, no barrier
timeout) runs in its thread by default. The risk of fork in a threaded
process (a lock held by another thread at fork time) is kept small: the child runs only the
body; its log records for the Prefect API go back over the pipe (the API log worker thread does
not exist in the child) and the parent sends them; the child never returns into Prefect and
leaves with ``os._exit``.

Both kinds speak the same small protocol with the member's life in the parent: the body asks to
``arrive`` at the barrier (``groupplug.prefect.arrive()``) and waits for ``released``; the end is
``("ok", value)`` or ``("error", exception)``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

#: The body's way to its member's life: set in the thread or child that runs a body.
current_body: contextvars.ContextVar[Any] = contextvars.ContextVar("groupplug_body",
                                                                   default=None)


class Work:
    """A body running somewhere: ``next_message`` until the end, ``reply``, ``stop``."""

    def next_message(self, timeout: float) -> tuple[str, Any] | None:
        raise NotImplementedError

    def reply(self, message: str) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


def _answered(answer: str, stopped: Callable[[str], Any]) -> None:
    """The life's answer to an arrival: released, a misuse (raised here), or stopped."""
    if answer == "released":
        return
    if answer.startswith("error:"):
        raise RuntimeError(answer[len("error:"):])
    raise stopped(answer)  # type: ignore[misc] - SystemExit, or os._exit in a child


class _ThreadBody:
    def __init__(self, work: ThreadWork):
        self.work = work

    def arrive(self) -> None:
        self.work.messages.put(("arrive", None))
        _answered(self.work.replies.get(), SystemExit)


class ThreadWork(Work):
    """The body in a daemon thread; stopping injects an exception (Prefect's own mechanism)."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.replies: queue.Queue[str] = queue.Queue()
        context = contextvars.copy_context()
        context.run(current_body.set, _ThreadBody(self))
        self.thread = threading.Thread(target=context.run, args=(self._main, fn, args, kwargs),
                                       daemon=True, name="groupplug-member")
        self.thread.start()

    def _main(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        try:
            self.messages.put(("ok", fn(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - the body's failure, reported as such
            self.messages.put(("error", exc))

    def next_message(self, timeout: float) -> tuple[str, Any] | None:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def reply(self, message: str) -> None:
        self.replies.put(message)

    def stop(self) -> None:
        from prefect._internal.concurrency.cancellation import _send_exception_to_thread

        self.replies.put("stopped")
        if self.thread.is_alive() and self.thread.ident is not None:
            _send_exception_to_thread(self.thread, SystemExit)


class _ChildBody:
    def __init__(self, conn: Any):
        self.conn = conn

    def arrive(self) -> None:
        self.conn.send(("arrive", None))
        _answered(self.conn.recv(), lambda _: os._exit(1))


class _PipeLogHandler(logging.Handler):
    """In the child: records bound for the Prefect API go to the parent instead."""

    def __init__(self, conn: Any):
        super().__init__()
        self.conn = conn

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args = record.getMessage(), None
            record.exc_info = None
            self.conn.send(("log", record))
        except Exception:  # noqa: BLE001 - a lost log line must not fail the body
            pass


def _close_inherited(keep: int) -> None:
    """Close every descriptor the fork copied but this child's pipe and 0-2.

    Other threads of the parent open pipes all the time (a member's ``sh -c`` output, other
    members' pipes): a copy kept open here hides their end, so a shell member whose output pipe
    leaked into this child read until this child died (seen: a lead's ``sleep 1`` ending only
    when a forked worker's ``sleep 120`` did). ``exec`` would close them (``O_CLOEXEC``); a fork
    that runs Python on does not.
    """
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
    import cloudpickle
    from prefect.logging.handlers import APILogHandler

    os.setpgid(0, 0)  # the group's stop takes down whatever the body started
    _close_inherited(keep=conn.fileno())
    forward = _PipeLogHandler(conn)
    APILogHandler.emit = lambda self, record: forward.emit(record)  # type: ignore[method-assign]
    current_body.set(_ChildBody(conn))
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - the body's failure, reported as such
        outcome = ("error", exc)
    try:
        conn.send_bytes(cloudpickle.dumps(outcome))
    except Exception as exc:  # noqa: BLE001 - an unpicklable value or exception
        kind = "error" if outcome[0] == "error" else "unpicklable"
        conn.send_bytes(cloudpickle.dumps(
            ("error", RuntimeError(f"member body ended ({kind}) with a value that cannot be sent "
                                   f"back from its process: {outcome[1]!r} ({exc})"))))
    import sys

    for stream in (sys.stdout, sys.stderr):  # os._exit does not flush what the body printed
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream has nothing to flush
            pass
    os._exit(0)


class ForkedWork(Work):
    """The body in a forked child of its own process group; stopping kills the group."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        import multiprocessing

        self.conn, child_conn = multiprocessing.Pipe(duplex=True)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            self.conn.close()
            _child(child_conn, fn, args, kwargs)
        child_conn.close()
        try:  # also here: a stop may come before the child has run its own setpgid
            os.setpgid(pid, pid)
        except OSError:
            pass
        self.pid = pid
        self._api_handler: Any = None

    def next_message(self, timeout: float) -> tuple[str, Any] | None:
        import cloudpickle

        try:
            if not self.conn.poll(timeout):
                return None
            data = self.conn.recv_bytes()
        except (EOFError, OSError):
            self._reap()
            return ("error", RuntimeError(f"member process {self.pid} ended without a result "
                                          "(killed or crashed)"))
        message = cloudpickle.loads(data)
        if message[0] == "log":
            self._send_log(message[1])
            return self.next_message(0)
        if message[0] in ("ok", "error"):
            self._reap()
        return message

    def _send_log(self, record: logging.LogRecord) -> None:
        from prefect.logging.handlers import APILogHandler

        if self._api_handler is None:
            self._api_handler = APILogHandler()
        self._api_handler.handle(record)

    def reply(self, message: str) -> None:
        try:
            self.conn.send(message)
        except OSError:
            pass

    def stop(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap()

    def _reap(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.conn.close()
