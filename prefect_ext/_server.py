"""A real ``prefect server`` on loopback with a temporary home and SQLite database.

Why not Prefect's ephemeral server: it is killed at interpreter exit before it saves pending
updates (measured here: 6 of 100 task runs saved), and process-based task runners would each
start their own. A server of our own outlives the flow, every worker reaches it through
``PREFECT_API_URL``, and ``stop()`` waits for the run's records to be final before it ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from groupplug.exceptions import GroupplugError

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrefectServer:
    """``with PrefectServer():`` sets ``PREFECT_API_URL`` for this process and its children."""

    def __init__(self, home: str | Path | None = None):
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="groupplug-prefect-"))
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}
        self.startup_seconds: float | None = None

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
        prefect = Path(sys.executable).with_name("prefect")
        env = {**os.environ, **self.env()}
        env.pop("PREFECT_API_URL", None)  # the server itself must not call itself
        out = open(self.home / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self._proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = (self.home / "server.log").read_text(errors="replace")[-3000:]
                raise GroupplugError(f"prefect server exited with {self._proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise GroupplugError(f"prefect server did not answer within {timeout:.0f}s")
        for key, value in self.env().items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        self.startup_seconds = time.monotonic() - began
        log.info("prefect server at %s in %.1fs", self.api_url, self.startup_seconds)
        return self

    def stop(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
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
        if self._own_home and os.environ.get("GROUPPLUG_KEEP_PREFECT_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
