"""Interrupting ``groupplug run`` through the user's door, shared by every engine's suite.

The run is a real ``groupplug run FILE --engine E --json`` in a session of its own (so
``os.killpg`` reaches it as a terminal's Ctrl-C reaches a foreground job), with a private
``TMPDIR`` (its temporary homes are counted there) and a marker in its environment that every
process it starts inherits (Airflow services, task runners, Prefect server, member commands):
what is left after it exits is found by that marker in ``/proc/*/environ``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARK_ENV = "GROUPPLUG_TEST_MARK"
#: What a run keeps in TMPDIR on purpose: member logs (local), the engine's log file, the
#: members' run directories (outputs, groupplug.launch).
KEPT_OUTPUT = ("groupplug-run-", "groupplug-logs", "groupplug-data")

#: Three members at a barrier that each say when their main work started, then run for ages.
BARRIER_YAML = """\
workflow:
  name: interrupt-me
  groups:
  - name: train
    lead: master
    tasks:
    - {{name: master, command: "touch {marks}/master; sleep 300"}}
    - {{name: worker-1, command: "touch {marks}/worker-1; sleep 301"}}
    - {{name: worker-2, command: "touch {marks}/worker-2; sleep 302"}}
"""


@dataclass
class Interrupted:
    returncode: int
    stdout: str
    stderr: str
    seconds: float  # signal -> exit, for benchmarks and messages; never asserted
    left: list[str] = field(default_factory=list)  # "pid cmdline" of marked processes alive
    tmp_left: list[str] = field(default_factory=list)  # what the run left in its TMPDIR

    @property
    def homes_left(self) -> list[str]:
        """Temporary directories left behind that are not the run's logs (which the command
        line keeps and names on purpose)."""
        return [n for n in self.tmp_left if not n.startswith(KEPT_OUTPUT)]

    def report(self) -> dict:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"--json must print exactly one line, got {lines}\n{self.stderr}"
        return json.loads(lines[0])


def marked_processes(mark: str) -> list[str]:
    """Every live process (not a zombie) whose environment carries ``MARK_ENV=mark``."""
    from groupplug._sweep import marked

    found = []
    for pid in marked(MARK_ENV, mark):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        found.append(f"{pid} {cmdline.decode(errors='replace')[:120]}")
    return found


def run_and_signal(args: list[str], tmp: Path, ready: list[Path], sig: signal.Signals | None, *,
                   python: str = sys.executable, ready_timeout: float = 240,
                   exit_timeout: float = 60, env: dict[str, str] | None = None,
                   before_signal=None) -> Interrupted:
    """Start ``groupplug ARGS`` and wait until every path in ``ready`` exists; send ``sig`` to
    its process group (None: send nothing, ``before_signal`` did the harm); collect its output,
    exit code and what it left behind."""
    mark = uuid.uuid4().hex
    run_tmp = tmp / "run-tmp"
    run_tmp.mkdir()
    full_env = {**os.environ, **(env or {}), MARK_ENV: mark, "TMPDIR": str(run_tmp)}
    proc = subprocess.Popen([python, "-m", "groupplug.cli", *args], cwd=ROOT, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + ready_timeout
        while not all(p.exists() for p in ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
                raise AssertionError(f"the run never got ready (rc {proc.returncode}):\n"
                                     f"{out}\n{err[-4000:]}")
            time.sleep(0.2)
        if before_signal is not None:
            before_signal(proc, mark)
        sent = time.monotonic()
        if sig is not None:
            os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=exit_timeout)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    left = marked_processes(mark)
    for line in left:  # never leave them to the next test
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    tmp_left = sorted(p.name for p in run_tmp.iterdir())
    return Interrupted(proc.returncode, out, err, seconds, left, tmp_left)
