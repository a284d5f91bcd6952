"""One group's decisions on any engine: the piece every engine's driver shares.

An engine turns what its members do into :class:`~groupplug.status.Event` objects and hands
them to :meth:`GroupDriver.event`; the status engine decides; the driver carries the actions out
through the engine's own ``deliver`` callback (release a member, stop it, restart it), keeps the
group's :class:`~groupplug.report.GroupReport` in step, raises the ``groupplug_*_state_changed``
hooks (members first: a group's change is the consequence of its members'), and times the
barrier out from its first arrival (:class:`~groupplug.barrier.BarrierClock`). It logs the
run's story to the ``groupplug.run`` logger the same way on every engine.

The driver does no I/O of its own and is not thread-safe: the engine calls it from one thread
(or under its own lock).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from .barrier import BarrierClock
from .report import GroupReport, MemberReport
from .status import Action, ActionKind, Event, GroupEngine

log = logging.getLogger("groupplug.run")

Deliver = Callable[[Action], None]


class GroupDriver:
    """Feeds one group's events to its :class:`GroupEngine` and carries out its actions."""

    def __init__(
        self, path: str, engine: GroupEngine, report: GroupReport, deliver: Deliver, *,
        barrier_timeout: float | None = None, run_id: str = "", hook: Any = None,
        on_change: Callable[[], None] | None = None,
    ):
        self.path = path
        self.engine = engine
        self.report = report
        self.deliver = deliver
        self.clock = BarrierClock(engine, barrier_timeout)
        self.run_id = run_id
        self.hook = hook
        self.on_change = on_change

    def event(self, event: Event) -> list[Action]:
        """Apply one member event; the actions it caused (already carried out)."""
        if event.reason:
            log.info("%s.%s: %s (%s)", self.path, event.member, event.kind.value, event.reason)
        actions = self.engine.apply(event)
        self.clock.saw(event, actions, time.monotonic())
        self.carry_out(actions)
        return actions

    def tick(self) -> list[Action]:
        """Call on the engine's loop: a barrier past its timeout fails its waiting members."""
        actions = self.clock.due(time.monotonic())
        if actions:
            log.warning("group %s: %s", self.path, actions[0].reason)
            self.carry_out(actions)
        return actions

    def carry_out(self, actions: Iterable[Action]) -> None:
        """Log and deliver ``actions``, then bring the report and the hooks up to date."""
        for action in actions:
            _tell(self.path, action)
            if action.kind is not ActionKind.FINISH_GROUP:
                self.deliver(action)
        self.sync()

    def sync(self) -> None:
        """The report from the engine's states; a hook call for every change."""
        engine, report = self.engine, self.report
        now = time.time()
        for name in engine.members:
            member = report.members.setdefault(name, MemberReport())
            new = engine.states[name]
            if member.state is not new and self.hook is not None:
                self.hook.groupplug_member_state_changed(
                    run_id=self.run_id, group=self.path, member=name, old=member.state, new=new,
                    reason=engine.reasons[name])
            member.state, member.reason = new, engine.reasons[name]
            member.attempts = engine.attempts[name]
            if new.finished and member.finished_at is None:
                member.finished_at = now
        if report.state is not engine.state:
            if self.hook is not None:
                self.hook.groupplug_group_state_changed(
                    run_id=self.run_id, group=self.path, old=report.state, new=engine.state)
            report.state = engine.state
        if self.on_change is not None:
            self.on_change()


def _tell(path: str, action: Action) -> None:
    if action.kind is ActionKind.RELEASE:
        if len(action.members) > 1:
            log.info("group %s: barrier epoch %d released for %s", path, action.epoch,
                     ", ".join(action.members))
    elif action.kind is ActionKind.STOP:
        state = action.state.value if action.state else "failed"
        log.info("%s.%s stopped as %s: %s", path, action.member, state, action.reason)
    elif action.kind is ActionKind.RESTART:
        log.info("%s.%s restarting for epoch %d: %s", path, action.member, action.epoch,
                 action.reason)
    elif action.kind is ActionKind.FINISH_GROUP and action.group_state is not None:
        log.info("group %s finished: %s", path, action.group_state.value)
