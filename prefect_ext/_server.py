"""A real ``prefect server`` on loopback with a temporary home and SQLite database.

Why not Prefect's ephemeral server: it is killed at interpreter exit before it saves pending
updates (measured here: 6 of 100 task runs saved), and process-based task runners would each
start their own. A server of our own outlives the flow, every worker reaches it through
``PREFECT_API_URL``, and ``stop()`` waits for the run's records to be final before it ends.

``stop()`` first drains this process's Prefect log and event workers. Why: they send in the
background and are otherwise drained only by an ``atexit`` hook, which runs after the server is
gone; measured on Prefect 3.8.8, each pending batch then retried its connection for 68-75 s
(``--- Error logging to API --- All connection attempts failed``) and the top flow's last log
record was lost (5 of 6 saved). Prefect's own ``prefect_test_harness`` drains the same two
workers before it stops its server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from groupplug import db_template, interrupts
from groupplug.exceptions import EngineFailed, GroupplugError

log = logging.getLogger(__name__)

#: Settings for every Prefect process groupplug starts: nothing phones home, no heartbeat wait.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_LOGGING_TO_API_ENABLED": "true",
}


#: Set to a directory to keep the run's server home (``prefect.db``, ``server.log``) there.
HOME_ENV = "GROUPPLUG_PREFECT_HOME"
#: Set to a Prefect API URL (``http://127.0.0.1:4200/api``) to run there (your own server and
#: its UI) instead of on an embedded server.
API_ENV = "GROUPPLUG_PREFECT_API_URL"
#: Seconds a server groupplug did not start (``--stack``, :data:`API_ENV`) may stay unreachable
#: before the run ends with exit 3. A restart on the same port takes ~10 s on idle cores but
#: took over 20 s on a loaded CI machine (PostgreSQL-backed server), which then failed a run
#: that should have ridden it out: 60 s matches how long Prefect's own client retries a call.
DOWN_ENV = "GROUPPLUG_PREFECT_DOWN_SECONDS"
DOWN_SECONDS = 60.0
#: What a server started from a database template (``groupplug.db_template``) need not do: on
#: Prefect 3.8.8 (2 idle cores) 17.0 s to a healthy server from an empty database, 5.6-6.8 s
#: from the template with these two steps off.
TEMPLATE_SKIPS = {
    "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
}


def _template_name() -> str:
    from importlib.metadata import version

    return f"prefect-{version('prefect')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise GroupplugError(
                f"--port {port}: cannot serve the embedded Prefect server on 127.0.0.1:{port} "
                f"({exc.strerror}); choose another port, or leave --port out for a free one"
            ) from None


class PrefectServer:
    """``with PrefectServer():`` sets ``PREFECT_API_URL`` for this process and its children."""

    def __init__(self, home: str | Path | None = None, port: int | None = None):
        home = home or os.environ.get(HOME_ENV) or None
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="groupplug-prefect-"))
        self.home.mkdir(parents=True, exist_ok=True)
        self._own_port = port is None
        self.port = port or _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}
        self.startup_seconds: float | None = None
        self._stopping = threading.Event()
        self._remove_cleanup: Any = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        return {
            **QUIET_ENV,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_API_DATABASE_CONNECTION_URL":
                f"sqlite+aiosqlite:///{self.home}/prefect.db",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.port),
        }

    def start(self, timeout: float = 120) -> PrefectServer:
        began = time.monotonic()
        if not self._own_port:
            _check_port_free(self.port)
        prefect = Path(sys.executable).with_name("prefect")
        database = self.home / "prefect.db"
        fresh = not database.exists()  # a kept home's database holds runs: never a template
        seeded = db_template.seed(_template_name(), database)
        env = {**os.environ, **self.env(), **(TEMPLATE_SKIPS if seeded else {})}
        env.pop("PREFECT_API_URL", None)  # the server itself must not call itself
        out = open(self.home / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self._proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        out.close()  # the child has its own copy
        # Our settings go in before Prefect is first imported (it reads them then), and the
        # import (1.5-2 s here) overlaps the server's start instead of following it.
        for key, value in self.env().items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        _refresh_prefect_settings()
        try:
            import prefect.flow_engine  # noqa: F401
            self._wait_healthy(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        if fresh and not seeded:  # migrated and registered, no flow run yet
            db_template.save(_template_name(), database)
        self.startup_seconds = time.monotonic() - began
        log.info("prefect server at %s in %.1fs", self.api_url, self.startup_seconds)
        self._remove_cleanup = interrupts.add_cleanup(self._last_cleanup)
        threading.Thread(target=self._watch, daemon=True, name="groupplug-prefect-watch").start()
        return self

    def _watch(self) -> None:
        """A server that dies mid-run ends the run: its members are stopped at once, and the
        run ends within seconds with what is known (exit 3), instead of Prefect's client
        retrying every call for minutes and ending in a connection traceback."""
        proc = self._proc
        while proc is not None and not self._stopping.wait(0.5):
            code = proc.poll()
            if code is not None and not self._stopping.is_set():
                reason = (f"the Prefect server died mid-run (exit {code}); its log: "
                          f"{self.home / 'server.log'}")
                log.error("%s", reason)
                interrupts.request(reason, failure=True)
                return

    def _last_cleanup(self) -> None:
        """When the process must end without unwinding: what :meth:`stop` would still do."""
        if self._proc is not None and self._proc.poll() is None:
            _kill_group(self._proc.pid)
        self._remove_home()

    def _wait_healthy(self, deadline: float) -> None:
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.home / "server.log").read_text(errors="replace")[-3000:]
                raise EngineFailed(f"prefect server exited with {self._proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        tail = (self.home / "server.log").read_text(errors="replace")[-3000:]
        raise EngineFailed(f"prefect server did not answer on {self.api_url} in time:\n{tail}")

    def stop(self) -> None:
        self._stopping.set()
        if self._remove_cleanup is not None:
            self._remove_cleanup()
        if self._proc is not None and self._proc.poll() is None:
            began = time.monotonic()
            drain_prefect_workers()
            log.info("prefect log and event workers drained in %.1fs", time.monotonic() - began)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_env:
            _refresh_prefect_settings()
        self._saved_env.clear()
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            except ProcessLookupError:
                pass
            self._proc = None
            log.info("prefect server stopped")
        self._remove_home()

    def _remove_home(self) -> None:
        if not self._own_home:
            return
        # Member commands and process workers carry the home in their environment; they go
        # before it does (nothing should be left by now: anything found is logged).
        from groupplug._sweep import stop_marked

        stop_marked("PREFECT_HOME", str(self.home))
        if os.environ.get("GROUPPLUG_KEEP_PREFECT_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ExistingServer:
    """A Prefect server someone else runs: ``PREFECT_API_URL`` points at it for the run, and
    ``stop()`` drains this process's log and event workers (the server keeps running)."""

    def __init__(self, api_url: str, *, watch: bool = True):
        self.api_url = api_url.rstrip("/")
        self.watch = watch  # off for a caller that outlives runs (a test session's fixture)
        self._saved: str | None = None
        self.startup_seconds = 0.0
        self._stopping = threading.Event()

    def start(self) -> ExistingServer:
        self._saved = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = self.api_url
        _refresh_prefect_settings()
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=10):  # noqa: S310
                pass
        except OSError as exc:
            self.stop()
            raise GroupplugError(f"{API_ENV}={self.api_url}: no Prefect server answers there "
                                 f"({exc}); start it, or unset {API_ENV} for an embedded "
                                 "server") from None
        self._stopping.clear()
        if self.watch:
            threading.Thread(target=self._watch, daemon=True,
                             name="groupplug-prefect-watch").start()
        return self

    def _watch(self) -> None:
        """A server that stops answering for :data:`DOWN_SECONDS` ends the run (exit 3, what is
        known reported); a shorter outage (a restart) is only logged."""
        down_since: float | None = None
        while not self._stopping.wait(1.0):
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2):  # noqa: S310
                    pass
            except OSError as exc:
                limit = float(os.environ.get(DOWN_ENV, DOWN_SECONDS))
                now = time.monotonic()
                if down_since is None:
                    down_since = now
                    log.warning("the Prefect server at %s does not answer (%s); the run ends "
                                "if it is still down in %.0f s", self.api_url, exc, limit)
                elif now - down_since >= limit and not self._stopping.is_set():
                    reason = (f"the Prefect server at {self.api_url} has not answered for "
                              f"{now - down_since:.0f} s")
                    log.error("%s", reason)
                    interrupts.request(reason, failure=True)
                    return
            else:
                if down_since is not None:
                    log.info("the Prefect server at %s answers again after %.0f s",
                             self.api_url, time.monotonic() - down_since)
                down_since = None

    def stop(self) -> None:
        self._stopping.set()
        if "prefect" in sys.modules:
            drain_prefect_workers()
        if self._saved is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = self._saved
        _refresh_prefect_settings()

    def __enter__(self) -> ExistingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_for(options: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """Where a ``groupplug run`` runs: the current API (``options["server"] == "current"``,
    in-process callers), the server named by ``$GROUPPLUG_PREFECT_API_URL``, or an embedded one
    on ``options["port"]`` (a free port by default)."""
    if options.get("server") == "current":
        return contextlib.nullcontext()
    from .stack import stack_server

    stack = stack_server(options)  # --stack: the server of scripts/stack up
    if stack is not None:
        return stack
    if os.environ.get(API_ENV):
        if options.get("port") is not None:
            raise GroupplugError(f"--port starts an embedded server on that port, but {API_ENV} "
                                 "names a server to use; give one of them")
        return ExistingServer(os.environ[API_ENV])
    return PrefectServer(port=options.get("port"))


def _refresh_prefect_settings() -> None:
    """Prefect reads its settings from the environment once, at import; a file imported before
    the server started (``groupplug run FILE.py:FLOW`` imports it first, to fail fast) would
    otherwise talk to no server. No-op when Prefect is not imported yet."""
    context = sys.modules.get("prefect.context")
    refresh = getattr(context, "refresh_global_settings_context", None)
    if refresh is not None:
        refresh()


def drain_prefect_workers(timeout: float = 15) -> None:
    """Send every log record and event this process has queued for the API, then stop the
    workers (Prefect starts new ones on the next record). Call while the server still runs."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    def drain() -> None:
        for service in (APILogWorker, EventsWorker):
            service.drain_all(timeout=timeout, at_exit=False)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread: drain_all blocks here, as we want
        drain()
        return
    # Inside a running loop drain_all returns a coroutine; block in a thread without one.
    worker = threading.Thread(target=drain, name="groupplug-drain", daemon=True)
    worker.start()
    worker.join(timeout * 2 + 1)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
