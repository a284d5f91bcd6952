"""The production shape on loopback: ``scripts/stack up|down|status`` (``-m groupplug.stack``).

PostgreSQL (a private cluster: Airflow's metadata and Celery results, Prefect's database), Redis
(the Celery broker), Airflow (api-server, scheduler, dag-processor, triggerer and two Celery
workers with their own hostnames) and a Prefect server, each on a free port of 127.0.0.1, each
in its own process group, every log in ``<stack dir>/logs``. ``up`` leaves them running and
writes ``<stack dir>/stack.json``; ``groupplug run ... --stack`` reads it. ``down`` stops all.

The stack directory is ``$GROUPPLUG_STACK_DIR`` (default ``/tmp/groupplug-stack``). Airflow's
commands come from ``$GROUPPLUG_STACK_AIRFLOW_BIN`` and Prefect's from
``$GROUPPLUG_STACK_PREFECT_BIN`` (the two engines cannot share an environment); the Airflow
and Prefect settings are the embedded defaults' (``groupplug.airflow._server``,
``groupplug.prefect._server``) with the database, broker and executor swapped.

Engine-free: it starts engines as programs and never imports them.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .exceptions import GroupplugError
from .service_procs import alive, cmdline, listening, stop_service

DIR_ENV = "GROUPPLUG_STACK_DIR"
AIRFLOW_BIN_ENV = "GROUPPLUG_STACK_AIRFLOW_BIN"
PREFECT_BIN_ENV = "GROUPPLUG_STACK_PREFECT_BIN"
#: ``GROUPPLUG_STACK=1``: every ``groupplug run`` on Airflow or Prefect uses the stack, as
#: ``--stack`` does.
USE_ENV = "GROUPPLUG_STACK"
WORKERS = ("worker1", "worker2")
#: Celery slots per worker; members waiting at a deferred barrier hold none.
CONCURRENCY = 8
#: Seconds without a heartbeat before the scheduler fails a task instance (Airflow's default
#: 300 s would make a killed worker's member hang the group five minutes). 20 s failed live
#: tasks as heartbeat-less on this loaded 2-core machine (2 of 100 plain tasks), hence 60 s.
HEARTBEAT_TIMEOUT = 60
#: Service start order; ``down`` goes the other way (clients before the databases).
ORDER = ("postgres", "redis", "prefect-server", "api-server", "scheduler", "dag-processor",
         "triggerer", *(f"celery-{w}" for w in WORKERS), "dask-scheduler",
         *(f"dask-{w}" for w in WORKERS))
DB_USER = "groupplug"

#: Each Airflow process reports this as its task instances' hostname (``[core]
#: hostname_callable``): both workers run on one machine, yet a test must tell them apart.
HOSTNAME_MODULE = '''\
import os
import socket


def hostname() -> str:
    return os.environ.get("GROUPPLUG_STACK_HOSTNAME") or socket.getfqdn()
'''


def requested(options: Any) -> bool:
    """Whether a run's options (``--stack``) or the environment ask for the stack."""
    return bool(options.get("stack")) or os.environ.get(USE_ENV) == "1"


def stack_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / "groupplug-stack")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load(directory: Path | None = None) -> dict[str, Any]:
    """The running stack's ``stack.json``; refuses when no stack was started there."""
    path = (directory or stack_dir()) / "stack.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GroupplugError(f"--stack: no stack at {path.parent} (no stack.json); start one "
                             f"with 'scripts/stack up', or set {DIR_ENV} to its directory"
                             ) from None


class Stack:
    def __init__(self, directory: Path | None = None):
        self.dir = directory or stack_dir()
        self.logs = self.dir / "logs"
        self.state: dict[str, Any] = {}

    # -- configuration ------------------------------------------------------------------
    def _new_state(self) -> dict[str, Any]:
        return {
            "dir": str(self.dir), "logs": str(self.logs),
            "postgres": {"port": free_port(), "user": DB_USER,
                         "password": secrets.token_urlsafe(16)},
            "redis": {"port": free_port(), "password": secrets.token_urlsafe(16)},
            "airflow": {"port": free_port(), "user": "groupplug",
                        "password": secrets.token_urlsafe(16),
                        "jwt_secret": secrets.token_urlsafe(24),
                        "home": str(self.dir / "airflow"), "workers": list(WORKERS)},
            "prefect": {"port": free_port(), "home": str(self.dir / "prefect"),
                        "dask_port": free_port()},
            "pids": {},
        }

    def _pg_url(self, database: str, driver: str) -> str:
        pg = self.state["postgres"]
        return f"{driver}://{pg['user']}:{pg['password']}@127.0.0.1:{pg['port']}/{database}"

    def airflow_env(self, hostname: str | None = None) -> dict[str, str]:
        from groupplug.airflow._server import EmbeddedAirflow

        a, r = self.state["airflow"], self.state["redis"]
        embedded = EmbeddedAirflow(home=a["home"])
        embedded.port, embedded.password = a["port"], a["password"]
        embedded._jwt_secret = a["jwt_secret"]
        env = embedded.env()
        pythonpath = [str(self.dir / "python"), env.get("PYTHONPATH", "")]
        env.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self._pg_url("airflow", "postgresql+psycopg2"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "5",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://:{r['password']}@127.0.0.1:{r['port']}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": self._pg_url("airflow", "db+postgresql"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CONCURRENCY),
            # A task taken by a worker that is then killed goes back to the queue, not lost.
            "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "groupplug_stack_host.hostname",
            "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p),
            "PYTHONUNBUFFERED": "1",  # the logs show what happened up to now, not 8 KB ago
        })
        if hostname:
            env["GROUPPLUG_STACK_HOSTNAME"] = hostname
        return env

    def prefect_env(self) -> dict[str, str]:
        from groupplug.prefect._server import PrefectServer

        p = self.state["prefect"]
        server = PrefectServer.__new__(PrefectServer)  # only its settings: no temp home made
        server.home, server.port = Path(p["home"]), p["port"]
        env = {**os.environ, **server.env()}
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = self._pg_url("prefect",
                                                                   "postgresql+asyncpg")
        env.pop("PREFECT_API_URL", None)  # the server must not call itself
        env["PYTHONUNBUFFERED"] = "1"
        return env

    # -- processes ----------------------------------------------------------------------
    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None,
               user: str | None = None) -> None:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(list(argv), env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, user=user,
                                    cwd=self.dir)
        self._record_pid(name, proc.pid)

    def _record_pid(self, name: str, pid: int) -> None:
        """Write one service's pid into ``stack.json``, keeping every other service's pid as
        the file has it. Why: the Airflow and Prefect halves of the stack suite restart
        services from two processes at once; each saving its whole, older state put back the
        other's dead pid (a restarted Prefect server then read as STOPPED and --stack refused
        to run)."""
        with open(self.dir / ".stack.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                pids = load(self.dir)["pids"]
            except GroupplugError:
                pids = {}
            self.state["pids"] = {**pids, name: pid}
            self._save()

    def _save(self) -> None:
        tmp = self.dir / ".stack.json.tmp"
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.chmod(0o600)
        tmp.rename(self.dir / "stack.json")

    def _wait(self, what: str, ready: Any, timeout: float, service: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.state["pids"].get(service)
            if pid is not None and not alive(pid):
                raise GroupplugError(f"stack: {service} exited while starting:\n"
                                     f"{self._tail(service)}")
            if ready():
                return
            time.sleep(0.5)
        raise GroupplugError(f"stack: {what} not ready in {timeout:.0f}s:\n{self._tail(service)}")

    def _tail(self, service: str) -> str:
        try:
            return (self.logs / f"{service}.log").read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    # -- up -----------------------------------------------------------------------------
    def up(self, airflow_bin: str, prefect_bin: str) -> None:
        if (self.dir / "stack.json").exists():
            self.down(quiet=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.logs.mkdir(parents=True)
        self.dir.chmod(0o755)  # the postgres user enters it
        (self.dir / "python").mkdir()
        (self.dir / "python" / "groupplug_stack_host.py").write_text(HOSTNAME_MODULE)
        self.state = self._new_state()
        self._save()
        try:
            self._postgres()
            self._redis()
            self._prefect(prefect_bin)
            self._airflow(airflow_bin)
        except BaseException:
            self.down(quiet=True)
            raise

    def _postgres(self) -> None:
        pg = self.state["postgres"]
        bindir = _postgres_bindir()
        data = self.dir / "postgres"
        data.mkdir()
        # initdb and postgres refuse to run as root; as root they run as the postgres user.
        user = "postgres" if os.geteuid() == 0 else None
        pwfile = data / "pwfile"
        pwfile.write_text(pg["password"] + "\n")
        if user:
            entry = pwd.getpwnam(user)
            for path in (data, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run([f"{bindir}/initdb", "-D", str(data / "data"), "-U", pg["user"],
                        f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8"],
                       check=True, user=user, cwd=self.dir, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        pwfile.unlink()
        self._spawn("postgres", [f"{bindir}/postgres", "-D", str(data / "data"),
                                 "-p", str(pg["port"]), "-c", "listen_addresses=127.0.0.1",
                                 "-c", f"unix_socket_directories={data}",
                                 "-c", "max_connections=400", "-c", "fsync=off"], user=user)
        self._wait("postgres", lambda: listening(pg["port"]), 60, "postgres")
        env = {**os.environ, "PGPASSWORD": pg["password"]}
        for database in ("airflow", "prefect"):
            # the postmaster listens a moment before it accepts logins
            for _ in range(40):
                made = subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p",
                                       str(pg["port"]), "-U", pg["user"], database],
                                      env=env, capture_output=True, text=True)
                if made.returncode == 0:
                    break
                time.sleep(0.5)
            else:
                raise GroupplugError(f"stack: createdb {database} failed: {made.stderr}")

    def _redis(self) -> None:
        r = self.state["redis"]
        binary = shutil.which("redis-server")
        if binary is None:
            raise GroupplugError("stack: redis-server is missing; apt-get install redis-server "
                                 "(scripts/stack up does this when run as root)")
        (self.dir / "redis").mkdir()
        self._spawn("redis", [binary, "--port", str(r["port"]), "--bind", "127.0.0.1",
                              "--requirepass", r["password"], "--save", "", "--appendonly", "no",
                              "--dir", str(self.dir / "redis")])
        self._wait("redis", lambda: listening(r["port"]), 30, "redis")

    def _prefect(self, prefect_bin: str) -> None:
        p = self.state["prefect"]
        Path(p["home"]).mkdir()
        self._spawn("prefect-server", [prefect_bin, "server", "start", "--host", "127.0.0.1",
                                       "--port", str(p["port"])], env=self.prefect_env())
        # checked after Airflow's start: both start at once on two cores
        dask = str(Path(prefect_bin).with_name("dask"))
        env = {**self.prefect_env(), "PREFECT_API_URL": self.prefect_api_url()}
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL")
        self._spawn("dask-scheduler", [dask, "scheduler", "--host", "127.0.0.1", "--port",
                                       str(p["dask_port"]), "--no-dashboard"], env=env)
        for worker in WORKERS:
            # each worker process under a nanny that restarts it when it dies, as deployed
            self._spawn(f"dask-{worker}", [dask, "worker", self.dask_address(), "--name",
                                           f"dask-{worker}", "--host", "127.0.0.1",
                                           "--nthreads", str(CONCURRENCY), "--no-dashboard"],
                        env=env)

    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.state['prefect']['port']}/api"

    def dask_address(self) -> str:
        return f"tcp://127.0.0.1:{self.state['prefect']['dask_port']}"

    def _prefect_ready(self) -> bool:
        url = f"http://127.0.0.1:{self.state['prefect']['port']}/api/health"
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def _airflow(self, airflow_bin: str) -> None:
        a = self.state["airflow"]
        home = Path(a["home"])
        (home / "dags").mkdir(parents=True)
        (home / "logs").mkdir()
        (home / "passwords.json").write_text(json.dumps({a["user"]: a["password"]}))
        env = self.airflow_env()
        with open(self.logs / "airflow-db-migrate.log", "ab") as out:
            migrate = subprocess.run([airflow_bin, "db", "migrate"], env=env, stdout=out,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        if migrate.returncode != 0:
            raise GroupplugError(f"stack: airflow db migrate failed:\n"
                                 f"{self._tail('airflow-db-migrate')}")
        self._spawn("api-server", [airflow_bin, "api-server"], env=env)
        self._spawn("scheduler", [airflow_bin, "scheduler", "--skip-serve-logs"], env=env)
        self._spawn("dag-processor", [airflow_bin, "dag-processor"], env=env)
        self._spawn("triggerer", [airflow_bin, "triggerer", "--skip-serve-logs"], env=env)
        for worker in WORKERS:
            self.start_worker(worker, airflow_bin)
        self._wait("prefect server", self._prefect_ready, 180, "prefect-server")
        for worker in WORKERS:
            self._wait(f"dask {worker}", lambda w=worker: "Registered to" in self._tail(
                f"dask-{w}"), 120, f"dask-{worker}")
        self._wait("airflow", self._airflow_healthy, 240, "api-server")
        for worker in WORKERS:
            self._wait(f"celery {worker}", lambda w=worker: self._worker_ready(w), 120,
                       f"celery-{worker}")

    def start_worker(self, worker: str, airflow_bin: str | None = None) -> None:
        """(Re)start one Celery worker: the fault tests kill one and bring it back."""
        binary = airflow_bin or self.state["airflow"].get("bin")
        self.state["airflow"]["bin"] = binary
        self._spawn(f"celery-{worker}", [binary, "celery", "worker", "--celery-hostname",
                                         f"{worker}@%h", "--concurrency", str(CONCURRENCY),
                                         "--skip-serve-logs"],
                    env=self.airflow_env(hostname=worker))

    def restart(self, service: str, while_down: Callable[[], None] | None = None,
                sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop one service (``sig``, SIGKILL after 20 s; SIGKILL is a crash) and start it
        again with its old command, on the same port. ``while_down()``, if given, runs between
        the two (a fault test checks what happens while the service is gone). The Prefect
        server is awaited until healthy."""
        pid = load(self.dir)["pids"][service]  # another process may have restarted it
        argv = cmdline(pid)
        stop_service(pid, sig)
        if while_down is not None:
            while_down()
        if service.startswith("celery-"):
            self.start_worker(service.removeprefix("celery-"))
        elif service == "prefect-server":
            self._spawn(service, argv, env=self.prefect_env())
            self._wait("prefect server", self._prefect_ready, 180, service)
        else:
            self._spawn(service, argv, env=self.airflow_env())

    def _airflow_healthy(self) -> bool:
        url = f"http://127.0.0.1:{self.state['airflow']['port']}/api/v2/monitor/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                health = json.load(response)
        except (OSError, ValueError):
            return False
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(health.get(p, {}).get("status") == "healthy" for p in parts)

    def _worker_ready(self, worker: str) -> bool:
        return f"{worker}@" in self._tail(f"celery-{worker}") and " ready." in self._tail(
            f"celery-{worker}")

    # -- status and down ----------------------------------------------------------------
    def ports(self) -> dict[str, int | None]:
        s = self.state
        return {"postgres": s["postgres"]["port"], "redis": s["redis"]["port"],
                "prefect-server": s["prefect"]["port"], "api-server": s["airflow"]["port"],
                "dask-scheduler": s["prefect"]["dask_port"]}

    def status(self) -> list[tuple[str, int | None, bool, int | None]]:
        """(service, pid, running, port) for every service the stack started."""
        ports = self.ports()
        return [(name, pid, alive(pid), ports.get(name))
                for name, pid in sorted(self.state["pids"].items(),
                                        key=lambda kv: _order(kv[0]))]

    def down(self, quiet: bool = False) -> None:
        try:
            self.state = load(self.dir)
        except GroupplugError:
            if not quiet:
                print(f"stack: nothing to stop in {self.dir}")
            return
        for name in sorted(self.state["pids"], key=_order, reverse=True):
            # postgres: SIGINT is its fast shutdown (SIGTERM waits for every client to leave)
            stop_service(self.state["pids"][name],
                       signal.SIGINT if name == "postgres" else signal.SIGTERM)
        (self.dir / "stack.json").unlink(missing_ok=True)


def _order(name: str) -> int:
    return ORDER.index(name) if name in ORDER else len(ORDER)


def _postgres_bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    if initdb:
        return str(Path(initdb).resolve().parent)
    raise GroupplugError("stack: PostgreSQL is missing; apt-get install postgresql "
                         "(scripts/stack up does this when run as root)")


def _print_status(stack: Stack) -> int:
    try:
        stack.state = load(stack.dir)
    except GroupplugError:
        print(f"stack: not running (no stack.json in {stack.dir})")
        return 1
    down = 0
    for name, pid, running, port in stack.status():
        where = f"127.0.0.1:{port}" if port else "-"
        print(f"{name:16} {'running' if running else 'STOPPED':8} pid {pid:<8} {where}")
        down += not running
    print(f"logs: {stack.logs}")
    print(f"airflow: http://127.0.0.1:{stack.state['airflow']['port']} "
          f"(user {stack.state['airflow']['user']}, password in {stack.dir}/stack.json)")
    print(f"prefect: {stack.prefect_api_url()} (dask {stack.dask_address()})")
    return 1 if down else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        if args.command == "up":
            airflow_bin = os.environ.get(AIRFLOW_BIN_ENV) or shutil.which("airflow")
            prefect_bin = os.environ.get(PREFECT_BIN_ENV) or shutil.which("prefect")
            if not airflow_bin or not prefect_bin:
                raise GroupplugError(f"stack: set {AIRFLOW_BIN_ENV} and {PREFECT_BIN_ENV} to "
                                     "the airflow and prefect commands (scripts/stack does)")
            began = time.monotonic()
            stack.up(airflow_bin, prefect_bin)
            print(f"stack: up in {time.monotonic() - began:.0f}s")
            return _print_status(stack)
        if args.command == "down":
            stack.down()
            print("stack: down")
            return 0
        return _print_status(stack)
    except GroupplugError as exc:
        print(exc, file=sys.stderr)
        return 3
    except subprocess.CalledProcessError as exc:
        print(f"stack: {exc}: {exc.stderr}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
