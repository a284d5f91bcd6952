"""A real Airflow 3 on loopback in a temporary ``AIRFLOW_HOME``: the embedded default.

SQLite metadata database, LocalExecutor, and the four services a run needs (api-server, which
also serves the execution API tasks talk to; scheduler; dag-processor; triggerer for the
deferrable barrier), each a subprocess in its own process group, all stopped on exit. A simple
auth manager user with a random password guards the API, as it would anywhere else.

Supervised: a service that dies during a run is restarted (a dead triggerer otherwise leaves
every deferred barrier waiting for ever); one that keeps dying makes :meth:`failure` name it,
and the run fails at once saying so. Nothing listens beyond loopback: the scheduler and the
triggerer start without their log servers (``serve-logs`` binds every interface and cannot be
told otherwise; with LocalExecutor the api-server reads the task logs from disk). A task whose
worker died is noticed after :data:`HEARTBEAT_TIMEOUT` seconds, not Airflow's default 300.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from groupplug.exceptions import EngineFailed, GroupplugError

log = logging.getLogger(__name__)

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Why the flag: see the module docstring (log servers on every interface).
SERVICE_ARGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
USER = "groupplug"
#: Seconds without a task heartbeat before the scheduler fails the task (Airflow: 300). 20 s
#: failed 2 healthy tasks of 100 on a loaded 2-core machine (the stack suite), so not lower.
HEARTBEAT_TIMEOUT = 60
#: Restarts of one service before the run fails naming it.
MAX_RESTARTS = 3
#: Seconds the services get to stop after SIGTERM before SIGKILL: an embedded Airflow is thrown
#: away with its home, and its run's records are final before it stops.
STOP_GRACE = 6.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedAirflow:
    """Start with :meth:`start` (or ``with``); DAG files go into :attr:`dags_folder`."""

    def __init__(self, home: str | Path | None = None, *, parallelism: int = 32,
                 extra_env: dict[str, str] | None = None):
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="groupplug-airflow-"))
        self.dags_folder = self.home / "dags"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self._jwt_secret = secrets.token_urlsafe(24)  # one for all services, or tokens mismatch
        self.parallelism = parallelism
        self.extra_env = dict(extra_env or {})
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.startup_seconds: float | None = None
        self.restarts: dict[str, int] = dict.fromkeys(SERVICES, 0)
        self._failure: str | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        #: False: a dead service stays dead (tests of what happens without it).
        self.supervise = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment every Airflow process of this instance gets."""
        env = dict(os.environ)
        env.update({
            "AIRFLOW_HOME": str(self.home),
            # Airflow retitles its task processes with setproctitle, which by default writes
            # over /proc/PID/environ: the sweep that finds this instance's processes by their
            # AIRFLOW_HOME then missed them, and three task runners outlived a Ctrl-C'd run.
            "SPT_NOENV": "1",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # SQLite waits up to 30 s for a lock instead of failing a busy api-server request.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db?timeout=30",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            # Tasks start by calling the execution API; on a loaded 2-core machine the default
            # timeout failed task starts ("Workload execution failed: ReadTimeout").
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "3600",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A restarted triggerer takes over its dead predecessor's triggers once that one's
            # heartbeat is this old (Airflow: 30 s).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_FETCH_INTERVAL": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"(airflow|groupplug)\..*",
            # Nothing we start may phone home.
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
        })
        env.update(self.extra_env)
        return env

    def _airflow(self) -> list[str]:
        binary = Path(sys.executable).with_name("airflow")
        if not binary.exists():
            raise GroupplugError(f"the airflow command is missing next to {sys.executable}; "
                                 "pip install 'groupplug[airflow]'")
        return [str(binary)]

    def start(self, timeout: float = 240) -> EmbeddedAirflow:
        """Migrate, start the services and wait until healthy; on any failure (or Ctrl-C) the
        services started so far are stopped before the error goes on (``with`` does not call
        ``__exit__`` when ``__enter__`` raises: they ran on for 35 minutes)."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> EmbeddedAirflow:
        began = time.monotonic()
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({USER: self.password}))
        (self.home / "logs").mkdir(exist_ok=True)
        migrate = subprocess.run([*self._airflow(), "db", "migrate"], env=self.env(),
                                 capture_output=True, text=True, timeout=timeout)
        if migrate.returncode != 0:
            raise EngineFailed(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
        for service in SERVICES:
            self._start_service(service)
        self._wait_healthy(timeout - (time.monotonic() - began))
        self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                            name="groupplug-airflow-supervisor")
        self._supervisor.start()
        self.startup_seconds = time.monotonic() - began
        log.info("Airflow up at %s in %.1fs (home %s)", self.url, self.startup_seconds, self.home)
        return self

    def _start_service(self, service: str) -> None:
        with open(self.home / "logs" / f"{service}.log", "ab") as out:  # the child keeps a copy
            self._procs[service] = subprocess.Popen(
                [*self._airflow(), service, *SERVICE_ARGS.get(service, [])], env=self.env(),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def _supervise(self) -> None:
        """Restart a service that died; after :data:`MAX_RESTARTS`, :meth:`failure` says so."""
        while not self._stopping.wait(1.0):
            for service, proc in list(self._procs.items()):
                code = proc.poll()
                if code is None or self._stopping.is_set() or not self.supervise:
                    continue
                logs = self.home / "logs" / f"{service}.log"
                if self.restarts[service] >= MAX_RESTARTS:
                    self._failure = (f"the embedded Airflow's {service} died {MAX_RESTARTS + 1} "
                                     f"times (last exit {code}); its log: {logs}")
                    log.error("%s", self._failure)
                    return
                self.restarts[service] += 1
                log.warning("airflow %s died (exit %s); restarting it (%d of %d); log: %s",
                            service, code, self.restarts[service], MAX_RESTARTS, logs)
                _signal(proc, signal.SIGKILL)  # whatever it left in its process group
                self._start_service(service)

    def restart(self, service: str) -> None:
        """Start ``service`` again (after it was stopped or died while not supervised)."""
        proc = self._procs.get(service)
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGTERM)
            proc.wait(15)
        self._start_service(service)

    def failure(self) -> str | None:
        """Why this Airflow can no longer run anything (a service kept dying), or None."""
        return self._failure

    def _wait_healthy(self, timeout: float) -> None:
        from .client import AirflowClient

        deadline = time.monotonic() + max(timeout, 10)
        client = AirflowClient(self.url, USER, self.password)
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = client.health()
                parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                if all(health.get(p, {}).get("status") == "healthy" for p in parts):
                    return
                last = health
            except OSError as exc:
                last = exc
            time.sleep(0.5)
        raise EngineFailed(f"Airflow did not become healthy in {timeout:.0f}s: {last}; "
                             f"logs in {self.home / 'logs'}")

    def _check_alive(self) -> None:
        for service, proc in self._procs.items():
            if proc.poll() is not None:
                tail = (self.home / "logs" / f"{service}.log").read_text(errors="replace")[-3000:]
                raise EngineFailed(f"airflow {service} exited with {proc.returncode}:\n{tail}")

    def client(self):  # noqa: ANN201 - avoids importing the client at module level
        from .client import AirflowClient

        return AirflowClient(self.url, USER, self.password)

    def stop(self) -> None:
        began = time.monotonic()
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        for proc in self._procs.values():
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in self._procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        log.info("Airflow services stopped in %.1fs", time.monotonic() - began)
        if self._own_home:
            # Task runners and member commands live in sessions of their own: a service that
            # died (or was killed with its workers) leaves them; the home goes only after them.
            from groupplug._sweep import stop_marked

            stop_marked("AIRFLOW_HOME", str(self.home))
        if self._own_home and os.environ.get("GROUPPLUG_KEEP_AIRFLOW_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> EmbeddedAirflow:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
