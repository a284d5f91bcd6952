"""One ``with group(...)`` block while it runs: its members, its status engine, its decisions.

Members join as the block starts their task runs (:mod:`.capture`); each becomes a member of
a *growing* :class:`~groupplug.status.GroupEngine` (one rulebook for every engine). A thread of
the block's process reads the members' events from the group's channel, feeds them to the
engine and carries out what it decides (release the barrier, stop, restart), exactly as the
YAML driver does. The barrier holds until the membership settles: when the block ends, or when
the block waits on a member (a direct call, ``future.result()``), since no member can join
before that returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from groupplug import interrupts
from groupplug.driver import GroupDriver
from groupplug.exceptions import GroupplugValueError, Problem
from groupplug.report import GroupReport, MemberReport
from groupplug.states import GroupState
from groupplug.status import Action, ActionKind, Event, EventKind, GroupEngine

from .channel import ChannelSpec, delete_messages
from .member_run import commands_box, events_box
from .native_member import NativeSpec

log = logging.getLogger(__name__)
_SATISFIED = (GroupState.SUCCEEDED, GroupState.SKIPPED)
#: How long a group waits, once decided, for its members' task runs to end.
END_GRACE = 60.0


@dataclass
class LiveOptions:
    lead: str | None = None
    barrier: bool = True
    barrier_timeout: float | None = None
    ignore_nonlead_status: bool = True
    setup: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    arrive_in_body: frozenset[str] = frozenset()
    isolate: str | None = None  # None: "process", but "thread" for a lead nobody can stop
    # Tag member task runs ``groupplug`` and ``group:<path>``. Prefect checks tag concurrency
    # limits with an API call per tagged task run (~25 ms each here; 100 trivial members 4.3 s
    # tagged vs 1.7 s untagged, plain .map 0.9 s): False leaves only the group's run tagged.
    member_tags: bool = True
    channel: str | None = None


class LiveGroup:
    """The running group of one block (see the module docstring)."""

    def __init__(self, path: str, options: LiveOptions, channel_kind: str):
        self.path, self.options = path, options
        self.engine = GroupEngine(path, [], options.lead, barrier=options.barrier,
                                  ignore_nonlead_status=options.ignore_nonlead_status,
                                  growing=True)
        self.report = GroupReport(GroupState.PENDING, options.lead, {})
        self.spec = ChannelSpec(channel_kind)
        self.channel = self.spec.open()
        self.lock = threading.RLock()
        self.calls: dict[str, list[int]] = {}  # task name -> member indexes, in call order
        self.names: list[str] = []  # member index -> current member name
        self.ended: dict[int, Any] = {}  # member index -> a future, or True once it ended
        self.future_ids: dict[Any, str] = {}  # task run id of a submitted member -> its name
        self.task_runs: dict[int, str] = {}  # member index -> its task run id (from its events)
        self.run_names: dict[int, str] = {}  # member index -> the name its task run was given
        self.driver = GroupDriver(path, self.engine, self.report, self._deliver,
                                  barrier_timeout=options.barrier_timeout, run_id=_run_id(),
                                  hook=_hook())
        self._stop = threading.Event()
        self._cursor: dict[str, int] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name=f"groupplug-{path}")
        self._thread.start()
        # Ctrl-C or SIGTERM on 'groupplug run': stop every member as the group stops them.
        self._unsubscribe = interrupts.subscribe(self.abort)

    # -- members joining (the block's thread) ------------------------------------------------

    def join(self, task_name: str, retries: int, retry_delay: float) -> NativeSpec:
        """A task run started in the block joins; its member spec (name, box, barrier)."""
        with self.lock:
            indexes = self.calls.setdefault(task_name, [])
            index = len(self.names)
            if not indexes:
                name = task_name
            else:
                if len(indexes) == 1:
                    self._rename(indexes[0], f"{task_name}[0]")
                name = f"{task_name}[{len(indexes)}]"
            self._check_lead(task_name, indexes)
            indexes.append(index)
            self.names.append(name)
            self.run_names[index] = name
            self.report.members[name] = MemberReport()
            self._apply(self.engine.add_member(name))
        isolate = self.options.isolate or self._default_isolation(task_name)
        return NativeSpec(self.path, name, index, self.spec,
                          setup=self.options.setup.get(task_name), retries=retries,
                          retry_delay=retry_delay, isolate=isolate,
                          arrive_in_body=task_name in self.options.arrive_in_body,
                          barrier=self.engine.barrier)

    def _default_isolation(self, task_name: str) -> str:
        # A lead is stopped by nobody when non-leads' failures are ignored and there is no
        # barrier timeout: it can run in its thread and skip the fork.
        lead_unstoppable = (self.options.ignore_nonlead_status
                            and self.options.barrier_timeout is None)
        return "thread" if task_name == self.options.lead and lead_unstoppable else "process"

    def _rename(self, index: int, new: str) -> None:
        old = self.names[index]
        self.engine.rename_member(old, new)
        self.report.members = {(new if k == old else k): v
                               for k, v in self.report.members.items()}
        self.names[index] = new

    def _check_lead(self, task_name: str, indexes: list[int]) -> None:
        lead = self.options.lead
        short = self.path.rpartition(".")[2]
        if lead is None and self.names and not indexes:
            raise GroupplugValueError([Problem(
                f"group({short!r})",
                f"has several members ({', '.join([*self.names, task_name])}) and no lead",
                f"name the task whose end ends the group: group({short!r}, lead={task_name!r})")])
        if task_name == lead and indexes:
            raise GroupplugValueError([Problem(
                f"group({short!r}, lead={lead!r})",
                f"the lead {lead!r} runs more than once in the block; the lead must be one "
                "task run",
                f"call {lead} once in the block, or give the other calls another name: "
                f"{lead}.with_options(name='{lead}-2')")])

    def track(self, index: int, future: Any) -> None:
        """A submitted member's future (to notice a task run that ends without reporting)."""
        with self.lock:
            self.ended.setdefault(index, future)

    def direct_ended(self, index: int) -> None:
        with self.lock:
            self.ended[index] = True

    def settle(self) -> None:
        """No member joins before the barrier releases (the block waits on a member)."""
        with self.lock:
            self._apply(self.engine.settle())

    # -- the decisions (the group's thread) ---------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step(0.1)
            except Exception:  # noqa: BLE001 - keep deciding; the failure is in the log
                log.exception("group %s: reading its members' events failed", self.path)
                time.sleep(0.1)

    def _step(self, wait: float) -> None:
        self.channel.beat()
        boxes = [events_box(i) for i in range(len(self.names))]
        if not boxes:
            time.sleep(wait)
            return
        for box, message in self.channel.read(boxes, self._cursor, wait):
            self._event(int(box[2:]), message)
        with self.lock:
            self.driver.tick()
            self._check_crashed()

    def _event(self, index: int, message: dict[str, Any]) -> None:
        with self.lock:
            name = self.names[index]
            member = self.report.members[name]
            if message.get("task_run"):
                self.task_runs[index] = message["task_run"]
            for key in ("setup_finished_at", "started_at", "finished_at"):
                setattr(member, key, message.get(key) or getattr(member, key))
            self.driver.event(Event(EventKind(message["kind"]), name,
                                    message.get("reason", ""), message.get("epoch", -1)))

    def _check_crashed(self) -> None:
        ended = [i for i, f in self.ended.items()
                 if not self.engine.states[self.names[i]].finished and _done(f)]
        if not ended:
            return
        # A member posts its last event just before its task run ends: read what is in flight.
        for box, message in self.channel.read([events_box(i) for i in ended], self._cursor, 0):
            self._event(int(box[2:]), message)
        for index in ended:
            name = self.names[index]
            if not self.engine.states[name].finished:
                self._apply(self.engine.apply(Event(
                    EventKind.FAILED, name, "its task run ended without reporting to the group "
                    "(crashed, timed out, or cancelled)")))

    def _apply(self, actions: list[Action]) -> None:
        self.driver.carry_out(actions)

    def _deliver(self, action: Action) -> None:
        """Carry out one of the status engine's actions: a command in a member's box."""
        if action.kind is ActionKind.RELEASE:
            for member in action.members:  # to each box: a renamed member keeps its box
                self._post(member, {"op": "release", "epoch": action.epoch})
        elif action.kind is ActionKind.STOP:
            self._post(action.member or "", {
                "op": "stop", "state": action.state.value if action.state else "failed",
                "reason": action.reason})
        elif action.kind is ActionKind.RESTART:
            self._post(action.member or "", {"op": "restart", "epoch": action.epoch})

    def _post(self, member: str, message: dict[str, Any]) -> None:
        self.channel.post(commands_box(self.names.index(member)), message)

    # -- the end (the block's thread) ----------------------------------------------------------

    def abort(self, reason: str) -> None:
        with self.lock:
            self._apply(self.engine.abort(reason))

    def finish(self) -> GroupReport:
        """Wait for the group's end and its members' task runs; the group's report."""
        self.settle()
        with self.lock:
            missing = self._lead_problem()
        if missing is not None:
            self.abort(f"no lead: {missing.message}")
        while self.names and not self.engine.finished and self._thread.is_alive():
            time.sleep(0.02)
        deadline = time.monotonic() + END_GRACE
        while time.monotonic() < deadline and not all(
                _done(self.ended.get(i)) for i in range(len(self.names))):
            time.sleep(0.02)
        self.close()
        if missing is not None:
            raise GroupplugValueError([missing])
        return self.report

    def close(self) -> None:
        self._unsubscribe()
        self._stop.set()
        self._thread.join(timeout=5)
        if self.spec.kind == "variables":
            delete_messages(self.channel, self.path)
        self.channel.close()
        now = time.time()
        for member in self.report.members.values():
            if member.state.finished and member.finished_at is None:
                member.finished_at = now

    def renames(self) -> dict[str, str]:
        """Task run id -> final name, for members renamed after their run was named (``fit``
        -> ``fit[0]`` once ``fit`` ran again)."""
        return {self.task_runs[i]: f"{self.path}.{n}" for i, n in enumerate(self.names)
                if n != self.run_names[i] and i in self.task_runs}

    def _lead_problem(self) -> Problem | None:
        lead, short = self.options.lead, self.path.rpartition(".")[2]
        if lead is None or lead in self.calls or not self.names:
            return None
        return Problem(f"group({short!r}, lead={lead!r})",
                       f"no task named {lead!r} ran in the block; its members are: "
                       f"{', '.join(self.names)}",
                       f"call the {lead} task inside the block, or pass lead= the name of one "
                       f"of: {', '.join(sorted(self.calls))}")


def _run_id() -> str:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return str(context.flow_run.id) if context is not None and context.flow_run else ""


def _hook() -> Any:
    from groupplug.plugins import get_plugin_manager

    return get_plugin_manager().hook


def _done(future: Any) -> bool:
    """Whether a member's task run ended (True: a direct call that returned)."""
    if future is True:
        return True
    if future is None:
        return False
    wrapped = getattr(future, "wrapped_future", None)
    if wrapped is not None and hasattr(wrapped, "done"):
        return bool(wrapped.done())
    return bool(future.state.is_final())
