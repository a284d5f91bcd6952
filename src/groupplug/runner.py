"""The local reference engine: the oracle every other engine is compared with.

Groups run in dependency order, members of a group concurrently as ``sh -c`` subprocesses (each in
its own process group), through :class:`groupplug.status.GroupEngine`: setup, barrier, main work,
retries, leads stopping the others, upstream failure. Member output goes to one log file per
member under ``log_dir``; the run's story goes to the ``groupplug.runner`` logger. ``log_dir`` is
also the run's directory for OSMO's tokens: ``{{output}}`` of task ``t`` is ``log_dir/outputs/t``
(:mod:`groupplug.launch`); a run given the same ``log_dir`` again sees earlier runs' outputs,
so a selected group can read what an unselected one wrote before.
"""

from __future__ import annotations

import functools
import logging
import queue
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import interrupts
from ._member import LocalMember
from .driver import GroupDriver
from .graph import PlannedGroup, plan, selected_paths
from .report import GroupReport, MemberReport, RunReport
from .spec import Workflow
from .states import GroupState, MemberState
from .status import Action, ActionKind, Event, EventKind, GroupEngine, rollup

log = logging.getLogger("groupplug.runner")

_SATISFIED = (GroupState.SUCCEEDED, GroupState.SKIPPED)
#: Put on the event queue when the run is interrupted (Ctrl-C, SIGTERM).
_INTERRUPT = Event(EventKind.FAILED, "")


@dataclass
class _GroupRun:
    planned: PlannedGroup
    driver: GroupDriver
    members: dict[str, LocalMember] = field(default_factory=dict)
    started: bool = False

    @property
    def engine(self) -> GroupEngine:
        return self.driver.engine


def _check_callables(workflow: Workflow) -> None:
    """Every Python member can go to a process of its own, checked before anything runs."""
    from ._pyprocess import picklable_problem
    from .exceptions import GroupplugValueError, Problem

    problems = []
    for path, group in workflow.walk():
        for t in group.tasks:
            for field_name, fn in (("fn", t.fn), ("setup_fn", t.setup_fn)):
                if fn is not None and (why := picklable_problem(fn)) is not None:
                    problems.append(Problem(f"{path}.{t.name}.{field_name}", why))
    if problems:
        raise GroupplugValueError(problems)


class LocalRunner:
    """Run a workflow locally. ``run()`` blocks and returns the :class:`RunReport`.

    ``selected`` names groups to run (signac's ``-o``); the others are reported skipped.
    ``on_update`` is called (from the runner thread) after every change, for live views.
    """

    def __init__(
        self,
        workflow: Workflow,
        *,
        selected: Iterable[str] = (),
        log_dir: str | Path | None = None,
        on_update: Callable[[RunReport], None] | None = None,
        tick: float = 0.02,
    ):
        self.workflow = workflow
        self.run_id = f"local-{uuid.uuid4().hex[:12]}"
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="groupplug-run-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.on_update = on_update
        self.tick = tick
        self._events: queue.Queue[tuple[str, Event]] = queue.Queue()
        _check_callables(workflow)
        self._selected = selected_paths(workflow, selected)
        self._plan = plan(workflow)
        self._lock = threading.Lock()
        self.report = self._initial_report()
        self._hook: Any = None
        self._runs = {p.path: self._new_run(p) for p in self._plan}
        self._started_run = False

    # ----------------------------------------------------------------------------- set-up
    def _new_run(self, planned: PlannedGroup) -> _GroupRun:
        engine = GroupEngine.from_group(planned.group, name=planned.path)
        return _GroupRun(planned, GroupDriver(
            planned.path, engine, self.report.groups[planned.path],
            functools.partial(self._deliver, planned.path),
            barrier_timeout=planned.group.barrier_timeout, run_id=self.run_id,
            on_change=self._changed))

    def _initial_report(self) -> RunReport:
        report = RunReport(self.workflow.name, "local", run_id=self.run_id)
        for path, group in self.workflow.walk():
            lead = group.lead
            report.groups[path] = GroupReport(
                lead=lead.name if lead else None,
                members={t.name: MemberReport() for t in group.tasks},
            )
        return report

    # ----------------------------------------------------------------------------- running
    def run(self) -> RunReport:
        if self._started_run:
            raise RuntimeError("a LocalRunner runs once; create a new one to run again")
        self._started_run = True
        from .plugins import get_plugin_manager

        self._hook = get_plugin_manager().hook
        for run in self._runs.values():
            run.driver.hook = self._hook
        log.info("run %s of workflow %r; member logs in %s", self.run_id, self.workflow.name,
                 self.log_dir)
        try:
            with interrupts.on_interrupt(lambda reason: self._events.put(("", _INTERRUPT))):
                self._loop()
        except KeyboardInterrupt:  # a second Ctrl-C: no waiting for the loop, stop all now
            self._interrupt(interrupts.requested() or "interrupted (KeyboardInterrupt)")
        finally:
            self._stop_all()
        self._refresh_parents()
        log.info("run %s finished: %s", self.run_id, self.report.state)
        return self.report

    def _stop_all(self) -> None:
        """Stop every member at once (each may take its kill grace), then wait for them. A
        Ctrl-C meanwhile kills what is left without grace; it never cuts the wait short."""
        members = [m for run in self._runs.values() for m in run.members.values()]
        stoppers = [threading.Thread(target=m.stop, daemon=True) for m in members]
        for thread in stoppers:
            thread.start()
        waiting = [*stoppers, *(m.thread for m in members)]
        while True:
            try:
                for thread in waiting:
                    thread.join(timeout=10)
                return
            except KeyboardInterrupt:
                for member in members:
                    member.kill_now()

    def _interrupt(self, reason: str) -> None:
        """The run was interrupted: every running group is aborted (its members stopped as
        failed, with ``reason``), every group not yet started is skipped."""
        self.report.interrupted = reason
        for run in self._runs.values():
            if run.engine.finished:
                continue
            if run.started:
                self._apply(run, run.engine.abort(reason))
            else:
                self._apply(run, run.engine.skip(f"{reason} before the group started"))

    def _loop(self) -> None:
        while not all(r.engine.finished for r in self._runs.values()):
            self._start_ready_groups()
            self._check_barrier_timeouts()
            try:
                path, event = self._events.get(timeout=self.tick)
            except queue.Empty:
                continue
            self._handle(path, event)
            # Drain what arrived meanwhile before the next scheduling pass.
            while True:
                try:
                    path, event = self._events.get_nowait()
                except queue.Empty:
                    break
                self._handle(path, event)

    def _start_ready_groups(self) -> None:
        for path, run in self._runs.items():
            if run.started or run.engine.finished:
                continue
            if path not in self._selected:
                self._apply(run, run.engine.skip("not selected"))
                continue
            upstream = [self._runs[u].engine for u in run.planned.upstream]
            if any(u.finished and u.state not in _SATISFIED for u in upstream):
                failed = [u.name for u in upstream if u.finished and u.state not in _SATISFIED]
                self._apply(run, run.engine.upstream_failed(f"upstream group {failed[0]} failed"))
                continue
            if all(u.finished for u in upstream):
                self._start_group(run)

    def _start_group(self, run: _GroupRun) -> None:
        run.started = True
        path = run.planned.path
        log.info("group %s starting (%d members, lead %s, barrier %s)", path,
                 len(run.planned.group.tasks), run.engine.lead, run.engine.barrier)
        for task in run.planned.group.tasks:
            member = LocalMember(
                task,
                path,
                self.log_dir / f"{path}.{task.name}.log",
                emit=lambda event, _p=path: self._events.put((_p, event)),
                run_dir=self.log_dir,
            )
            run.members[task.name] = member
        for member in run.members.values():
            self._update_inputs(run, member)
            member.thread.start()

    def _update_inputs(self, run: _GroupRun, member: LocalMember) -> None:
        """Release a member whose inputs inside its own group are done (non-barrier groups)."""
        inside = [i for i in member.task.inputs if i in run.members]
        states = run.engine.states
        failed = [i for i in inside if states[i].finished and states[i] != MemberState.SUCCEEDED]
        if failed:
            member.inputs_failed = f"input {failed[0]} did not succeed"
            member.inputs_ready.set()
        elif all(states[i] is MemberState.SUCCEEDED for i in inside):
            member.inputs_ready.set()

    def _handle(self, path: str, event: Event) -> None:
        if event is _INTERRUPT:
            self._interrupt(interrupts.requested() or "interrupted")
            return
        run = self._runs[path]
        member = run.members.get(event.member)
        if member is not None:  # the times the member recorded, before the states they explain
            report = self.report.groups[path].members[event.member]
            report.setup_finished_at = member.setup_finished_at
            report.started_at = member.started_at
            report.result = member.result
            if member.finished_at is not None:
                report.finished_at = member.finished_at
        run.driver.event(event)
        for member in run.members.values():
            if not member.inputs_ready.is_set():
                self._update_inputs(run, member)

    def _apply(self, run: _GroupRun, actions: list[Action]) -> None:
        run.driver.carry_out(actions)

    def _deliver(self, path: str, action: Action) -> None:
        """Carry out one of the status engine's actions on the local members of ``path``."""
        run = self._runs[path]
        if action.kind is ActionKind.RELEASE:
            for name in action.members:
                run.members[name].release()
        elif action.kind is ActionKind.STOP:
            member = run.members.get(action.member or "")
            if member is not None:  # stopping waits for the process: not on the decision loop
                threading.Thread(target=member.stop, daemon=True).start()
        elif action.kind is ActionKind.RESTART:
            run.members[action.member or ""].restart(action.epoch)

    def _check_barrier_timeouts(self) -> None:
        for run in self._runs.values():
            run.driver.tick()

    # ----------------------------------------------------------------------------- reporting
    def _changed(self) -> None:
        with self._lock:
            self._refresh_parents()
        if self.on_update is not None:
            self.on_update(self.report)

    def _refresh_parents(self) -> None:
        """Roll parent-group states up from their children, deepest first (Flyte's rule)."""
        groups = self.report.groups
        for path in sorted(groups, key=lambda p: -p.count(".")):
            children = [g for p, g in groups.items() if p.rsplit(".", 1)[0] == path and "." in p]
            if not children:
                continue
            own = [groups[path].state] if path in self._runs else []
            groups[path].state = rollup([*own, *(c.state for c in children)])
