"""A member's life inside its Prefect task: setup, arrive, wait, main work, retries.

It mirrors the local engine's member, but talks to its group's subflow through a
:class:`~groupplug.prefect.channel.Channel` instead of shared memory, so it runs the same in a
thread, a Dask worker process or another machine. The subflow decides (status engine); the
member reports events and obeys commands. Shell commands run in their own process group and
are killed when the group stops or restarts the member (Prefect cannot cancel a running task:
only cooperative stopping ends work early). Each step runs what :func:`groupplug.launch.prepare`
makes of the member's task, where the member runs: OSMO's argument vector, environment, inline
files and ``{{output}}``/``{{input:N}}`` under the flow run's directory (``run_dir``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from groupplug.launch import Launch, LaunchError, prepare
from groupplug.shell import run_watched
from groupplug.spec import Task
from groupplug.status import EventKind

from .channel import BROADCAST, Channel, ChannelSpec

POLL = 0.05


@dataclass
class MemberContext:
    """Everything a member task needs, picklable for process-based task runners."""

    group: str
    name: str
    index: int
    command: str | None
    setup: str | None
    retries: int
    retry_delay: float
    channel: ChannelSpec
    #: The member's task (no callables: it travels to process-based task runners) and the
    #: run's directory; without them the commands run as plain ``sh -c`` strings.
    task: Task | None = None
    run_dir: str | None = None
    #: The directory the member runs in (None: the worker's own).
    cwd: str | None = None


def events_box(index: int) -> str:
    return f"ev{index}"


def commands_box(index: int) -> str:
    return f"cmd{index}"


class _Stopped(Exception):
    def __init__(self, command: dict[str, Any]):
        self.command = command


class MemberRun:
    def __init__(self, ctx: MemberContext, log: logging.Logger):
        self.ctx = ctx
        self.log = log
        self.channel: Channel = ctx.channel.open()
        self.cursor: dict[str, int] = {}
        self.inbox: list[dict[str, Any]] = []
        self.record: dict[str, Any] = {"setup_finished_at": None, "started_at": None,
                                       "finished_at": None, "attempts": 0}

    # -- messages ------------------------------------------------------------------------------

    def emit(self, kind: EventKind, reason: str = "", epoch: int = -1) -> None:
        self.channel.post(events_box(self.ctx.index), {
            "kind": kind.value, "reason": reason, "epoch": epoch, "at": time.time(),
            **self.record})

    def _poll(self, wait: float) -> None:
        boxes = [commands_box(self.ctx.index), BROADCAST]
        for box, message in self.channel.read(boxes, self.cursor, wait):
            if box == BROADCAST and self.ctx.name not in message.get("members", ()):
                continue
            self.inbox.append(message)

    def _take(self, *ops: str) -> dict[str, Any] | None:
        for message in self.inbox:
            if message["op"] in ops:
                self.inbox.remove(message)
                return message
        return None

    def _check_stop(self) -> None:
        stop = self._take("stop")
        if stop is not None:
            raise _Stopped(stop)

    # -- the life ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run to the end; the final command (stop) or outcome decides the returned state."""
        try:
            self._setup()
            self._main()
            raise AssertionError("unreachable")  # pragma: no cover
        except _Stopped as stopped:
            self.record["finished_at"] = self.record["finished_at"] or time.time()
            return {"state": stopped.command["state"], "reason": stopped.command["reason"],
                    **self.record}
        finally:
            self.channel.detach()

    def _shell(self, step: str) -> tuple[int | None, str]:
        """Run the member's ``step`` ("setup" or "main"); ``(exit code, why it failed)``, the
        code None when the group stopped it."""
        def should_stop() -> str | None:
            self._poll(0)
            if any(m["op"] in ("stop", "restart") for m in self.inbox):
                return "stopped by the group"
            return None

        ctx = self.ctx
        try:
            if ctx.task is not None and ctx.run_dir is not None:
                launch = prepare(ctx.task, run_dir=ctx.run_dir, step=step, cwd=ctx.cwd)
            else:
                launch = Launch.shell((ctx.setup if step == "setup" else ctx.command) or "")
            rc, _ = run_watched(launch, self.log, should_stop, poll_interval=0.1)
        except LaunchError as error:  # fails like a command that is not found
            self.log.error("%s", error)
            return 127, str(error)
        return rc, f"exit {rc}"

    def _setup(self) -> None:
        ctx = self.ctx
        if ctx.setup:
            self.emit(EventKind.SETUP_STARTED)
            rc, why = self._shell("setup")
            self._check_stop()
            if rc is not None and rc != 0:
                self._end(EventKind.FAILED, f"setup failed ({why})")
        self.record["setup_finished_at"] = time.time()

    def _end(self, kind: EventKind, reason: str = "") -> None:
        """Report a final outcome and end: a finished member's state never changes."""
        self.record["finished_at"] = time.time()
        self.emit(kind, reason)
        state = "succeeded" if kind is EventKind.SUCCEEDED else "failed"
        raise _Stopped({"state": state, "reason": reason})

    def _arrive_and_wait(self, epoch: int) -> int:
        """Arrive at the barrier; the released epoch (a restart may re-arm it first)."""
        self.emit(EventKind.ARRIVED, epoch=epoch)
        while True:
            self._poll(0.5)
            self._check_stop()
            restart = self._take("restart")
            if restart is not None:
                epoch = restart["epoch"]
                self.emit(EventKind.ARRIVED, epoch=epoch)
                continue
            release = self._take("release")
            if release is not None and release["epoch"] >= epoch:
                return release["epoch"]

    def _main(self) -> None:
        ctx = self.ctx
        failures = 0
        epoch = -1
        while True:
            epoch = self._arrive_and_wait(epoch)
            self.record["attempts"] += 1
            self.record["started_at"] = time.time()
            self.emit(EventKind.STARTED)
            rc, why = self._shell("main")
            self._check_stop()
            restart = self._take("restart")
            if restart is not None:
                epoch = restart["epoch"]
                continue
            if rc == 0:
                self._end(EventKind.SUCCEEDED)
            failures += 1
            if failures > ctx.retries:
                self._end(EventKind.FAILED, f"command failed ({why})")
            self.emit(EventKind.RETRYING, f"command failed ({why}); retry {failures} of "
                                          f"{ctx.retries}")
            deadline = time.monotonic() + ctx.retry_delay
            while time.monotonic() < deadline:
                self._poll(min(0.2, deadline - time.monotonic()))
                self._check_stop()
            restart = self._take("restart")
            epoch = restart["epoch"] if restart is not None else -1
