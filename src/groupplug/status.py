"""The status engine (DESIGN section 3): a pure, deterministic state machine per group.

Adapters feed it what their engine reports as :class:`Event` objects and carry out the
:class:`Action` objects it returns (start main work, stop a member, restart a member, record the
group's outcome). It never sleeps, reads a clock or does I/O, so every engine and the conformance
suite share one implementation of the rules:

======================  =================================  ===================================
event                   ignore_nonlead_status = True       ignore_nonlead_status = False
======================  =================================  ===================================
lead finishes           others stop with the lead's state, reason "lead finished"; group = lead
non-lead fails          nothing                            others stop as failed; group failed
lead retries            other unfinished members restart, the barrier re-arms (new epoch)
non-lead retries        only that member retries           others restart too
======================  =================================  ===================================

>>> eng = GroupEngine("train", ["lead", "w"], "lead")
>>> [a.kind.value for e in ("lead", "w") for a in eng.apply(Event(EventKind.ARRIVED, e))]
['release']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import Enum
from typing import NamedTuple

from .spec import Group
from .states import GroupState, MemberState, group_state_of_lead

LEAD_FINISHED = "lead finished"


class EventKind(str, Enum):
    SETUP_STARTED = "setup_started"
    ARRIVED = "arrived"  # setup finished: at the barrier (or ready to start when there is none)
    STARTED = "started"  # main work began
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"  # main work failed and will run again
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"  # an input inside the group did not succeed


class Event(NamedTuple):
    kind: EventKind
    member: str
    reason: str = ""
    epoch: int = -1  # the barrier epoch an arrival belongs to; -1 means the current one


class ActionKind(str, Enum):
    RELEASE = "release"  # start the main work of ``members`` (barrier ``epoch`` released)
    STOP = "stop"  # stop ``member``; it ends in ``state`` with ``reason``
    RESTART = "restart"  # stop ``member``'s main work; it re-arrives for barrier ``epoch``
    FINISH_GROUP = "finish_group"  # the group ended in ``group_state``


class Action(NamedTuple):
    kind: ActionKind
    member: str | None = None
    state: MemberState | None = None
    reason: str = ""
    epoch: int = 0
    members: tuple[str, ...] = ()
    group_state: GroupState | None = None


_FINISHING = {
    EventKind.SUCCEEDED: MemberState.SUCCEEDED,
    EventKind.FAILED: MemberState.FAILED,
    EventKind.SKIPPED: MemberState.SKIPPED,
    EventKind.UPSTREAM_FAILED: MemberState.UPSTREAM_FAILED,
}
_RESTARTABLE = frozenset({MemberState.WAITING, MemberState.RUNNING, MemberState.RETRYING})


class GroupEngine:
    """The lifecycle of one group's members. ``apply`` one event at a time."""

    def __init__(
        self,
        name: str,
        members: Sequence[str],
        lead: str | None,
        *,
        barrier: bool = True,
        ignore_nonlead_status: bool = True,
        growing: bool = False,
    ):
        if len(set(members)) != len(members):
            raise ValueError(f'group "{name}": member names repeat: {list(members)}')
        if not growing:
            if not members:
                raise ValueError(f'group "{name}": a status engine needs at least one member')
            if lead is None and len(members) == 1:
                lead = members[0]
            if lead not in members:
                raise ValueError(f'group "{name}": lead {lead!r} is not one of its members')
        self.name = name
        self.members = tuple(members)
        self.lead = lead
        self.barrier = barrier and (growing or len(members) > 1)
        self.ignore_nonlead_status = ignore_nonlead_status
        self.state = GroupState.PENDING
        self.epoch = 0
        self.states = dict.fromkeys(self.members, MemberState.PENDING)
        self.reasons = dict.fromkeys(self.members, "")
        self.attempts = dict.fromkeys(self.members, 0)
        self._unfinished = len(self.members)
        self._arrived: set[str] = set()  # unfinished members waiting in the current epoch
        self._released = False  # whether the current epoch's barrier has released
        # A growing group (members join as an engine starts them, e.g. Prefect task calls in a
        # ``with group`` block) holds its barrier until ``settle()``: until then more may come.
        self._open = growing
        self._ended_reason = ""  # why the group ended without running (upstream failed...)

    @classmethod
    def from_group(cls, group: Group, name: str | None = None) -> GroupEngine:
        lead = group.lead
        return cls(
            name or group.name,
            [t.name for t in group.tasks],
            lead.name if lead else None,
            barrier=group.barrier,
            ignore_nonlead_status=group.ignore_nonlead_status,
        )

    # ----------------------------------------------------------------------------- queries
    @property
    def finished(self) -> bool:
        return self.state.finished

    def counts(self) -> dict[str, int]:
        return dict(Counter(s.value for s in self.states.values()))

    def waiting(self) -> list[str]:
        return [m for m in self.members if self.states[m] is MemberState.WAITING]

    def not_arrived(self) -> list[str]:
        """Unfinished members the current barrier epoch still waits for."""
        return [m for m in self.members if not self.states[m].finished and m not in self._arrived]

    # ----------------------------------------------------------------------------- growing
    def add_member(self, name: str) -> list[Action]:
        """A growing group gains ``name``. If the group already ended, the newcomer never
        starts: it takes the lead's final state with reason ``lead finished`` (a STOP action)."""
        if name in self.states:
            raise ValueError(f'group "{self.name}" already has a member {name!r}')
        self.members = (*self.members, name)
        self.reasons[name] = ""
        self.attempts[name] = 0
        if self.state.finished:
            final, reason = self._newcomer_end()
            self.states[name], self.reasons[name] = final, reason
            return [Action(ActionKind.STOP, name, final, reason)]
        self.states[name] = MemberState.PENDING
        self._unfinished += 1
        if len(self.members) == 1 and self.lead is None:
            self.lead = name
        return []

    def _newcomer_end(self) -> tuple[MemberState, str]:
        """How a member that joins an ended group ends: as the group's unstarted members did
        (upstream failed, skipped), else with the lead's state (``lead finished``)."""
        unstarted = {GroupState.UPSTREAM_FAILED: MemberState.UPSTREAM_FAILED,
                     GroupState.SKIPPED: MemberState.SKIPPED}
        if self.state in unstarted:
            return unstarted[self.state], self._ended_reason
        lead = self.states.get(self.lead or "")
        if lead is not None and lead.finished:
            return lead, LEAD_FINISHED
        return MemberState.FAILED, next((r for r in self.reasons.values() if r), "group ended")

    def rename_member(self, old: str, new: str) -> None:
        """Give a member of a growing group another name (``fit`` -> ``fit[0]`` once ``fit``
        runs a second time); its state, reason, attempts and arrival move with it."""
        if new in self.states:
            raise ValueError(f'group "{self.name}" already has a member {new!r}')
        self.members = tuple(new if m == old else m for m in self.members)
        for table in (self.states, self.reasons, self.attempts):
            table[new] = table.pop(old)
        if old in self._arrived:
            self._arrived.discard(old)
            self._arrived.add(new)

    def settle(self) -> list[Action]:
        """No member will join before the barrier releases (the block ended, or it waits on a
        member): release it if everyone unfinished has arrived."""
        self._open = False
        if self.barrier and not self._released and self._arrived and not self.state.finished:
            if len(self._arrived) == self._unfinished:
                return self._release(tuple(m for m in self.members if m in self._arrived))
        return []

    # ----------------------------------------------------------------------------- events
    def apply(self, event: Event) -> list[Action]:
        """Apply one event; return what the adapter must do. Events of finished members and
        of a finished group are ignored (a stopped member's late exit changes nothing)."""
        member = event.member
        state = self.states.get(member)
        if state is None:
            raise KeyError(f'group "{self.name}" has no member {member!r}')
        if state.finished or self.state.finished:
            return []
        kind = event.kind
        if kind is EventKind.ARRIVED:
            return self._arrive(member, event.epoch)
        if kind is EventKind.STARTED:
            self.states[member] = MemberState.RUNNING
            self.attempts[member] += 1
            self.state = GroupState.RUNNING
            return []
        if kind is EventKind.SETUP_STARTED:
            self.states[member] = MemberState.SETTING_UP
            if self.state is GroupState.PENDING:
                self.state = GroupState.INITIALIZING
            return []
        if kind is EventKind.RETRYING:
            return self._retry(member, event.reason)
        return self._finish(member, _FINISHING[kind], event.reason)

    def abort(self, reason: str) -> list[Action]:
        """The group cannot go on (its code raised, its lead never ran): every unfinished member
        is stopped as failed with ``reason``; the group fails."""
        if self.state.finished:
            return []
        return self._end_group(MemberState.FAILED, reason, GroupState.FAILED, exclude="")

    def upstream_failed(self, reason: str = "upstream group failed") -> list[Action]:
        """The group never starts: every member and the group end ``upstream_failed``."""
        return self._end_unstarted(MemberState.UPSTREAM_FAILED, GroupState.UPSTREAM_FAILED, reason)

    def skip(self, reason: str = "not selected") -> list[Action]:
        """The group is not run (not selected): every member and the group end ``skipped``."""
        return self._end_unstarted(MemberState.SKIPPED, GroupState.SKIPPED, reason)

    def barrier_timed_out(self, reason: str) -> list[Action]:
        """The barrier timeout expired: waiting members fail with ``reason``; the rules of
        section 3 then apply (the lead failing finishes the group)."""
        waiting = self.waiting()
        ordered = [m for m in waiting if m != self.lead] + [m for m in waiting if m == self.lead]
        actions: list[Action] = []
        for m in ordered:
            if not self.states[m].finished and not self.state.finished:
                actions.append(Action(ActionKind.STOP, m, MemberState.FAILED, reason))
                actions.extend(self._finish(m, MemberState.FAILED, reason))
        return actions

    # ----------------------------------------------------------------------------- rules
    def _arrive(self, member: str, epoch: int) -> list[Action]:
        if epoch >= 0 and epoch != self.epoch:
            return []  # a stale arrival from before a restart never counts
        if not self.barrier or self._released:
            self.states[member] = MemberState.WAITING
            return self._release((member,))
        self.states[member] = MemberState.WAITING
        self._arrived.add(member)
        if len(self._arrived) == self._unfinished and not self._open:
            return self._release(tuple(m for m in self.members if m in self._arrived))
        return []

    def _release(self, members: tuple[str, ...]) -> list[Action]:
        if self.barrier:
            self._released = True
        if self.state in (GroupState.PENDING, GroupState.INITIALIZING):
            self.state = GroupState.RUNNING
        return [Action(ActionKind.RELEASE, members=members, epoch=self.epoch)]

    def _finish(self, member: str, final: MemberState, reason: str) -> list[Action]:
        self.states[member] = final
        self.reasons[member] = reason
        self._unfinished -= 1
        self._arrived.discard(member)
        if member == self.lead:
            return self._end_group(
                final, LEAD_FINISHED, group_state_of_lead(final), exclude=member
            )
        if final is MemberState.FAILED and not self.ignore_nonlead_status:
            return self._end_group(
                MemberState.FAILED, f"task {member} failed", GroupState.FAILED, exclude=member
            )
        # A member gone before arriving must not hold the others at the barrier.
        if self.barrier and not self._released and self._arrived and not self._open:
            if len(self._arrived) == self._unfinished:
                return self._release(tuple(m for m in self.members if m in self._arrived))
        return []

    def _end_group(
        self, final: MemberState, reason: str, group_state: GroupState, exclude: str
    ) -> list[Action]:
        actions = []
        for m in self.members:
            if m != exclude and not self.states[m].finished:
                self.states[m] = final
                self.reasons[m] = reason
                actions.append(Action(ActionKind.STOP, m, final, reason))
        self._unfinished = 0
        self._arrived.clear()
        self.state = group_state
        actions.append(Action(ActionKind.FINISH_GROUP, group_state=group_state))
        return actions

    def _retry(self, member: str, reason: str) -> list[Action]:
        self.states[member] = MemberState.RETRYING
        self.reasons[member] = reason
        if member != self.lead and self.ignore_nonlead_status:
            self._arrived.discard(member)
            return []
        # The lead (or, with ignore_nonlead_status off, anyone) retrying restarts the others and
        # re-arms the barrier for a new epoch, so everyone starts the next attempt together.
        self.epoch += 1
        self._released = False
        self._arrived.clear()
        why = f"restarted: task {member} retrying"
        actions = []
        for m in self.members:
            if m != member and self.states[m] in _RESTARTABLE:
                self.states[m] = MemberState.RETRYING
                self.reasons[m] = why
                actions.append(Action(ActionKind.RESTART, m, reason=why, epoch=self.epoch))
        return actions

    def _end_unstarted(self, member_state: MemberState, group_state: GroupState, reason: str):
        if self.state.finished:
            return []
        for m in self.members:
            if not self.states[m].finished:
                self.states[m] = member_state
                self.reasons[m] = reason
        self._unfinished = 0
        self.state = group_state
        self._ended_reason = reason
        return [Action(ActionKind.FINISH_GROUP, group_state=group_state)]


def rollup(states: Iterable[GroupState]) -> GroupState:
    """A parent group's state from its own and its children's (Flyte's rule).

    Failed if any failed; running while any is running or initializing; upstream_failed if any
    is (and none failed); succeeded when all succeeded (skipped children do not count against
    it); pending while nothing has started.
    """
    seen = set(states)
    if not seen:
        return GroupState.PENDING
    for state in (GroupState.FAILED, GroupState.RUNNING, GroupState.INITIALIZING):
        if state in seen:
            return GroupState.FAILED if state is GroupState.FAILED else GroupState.RUNNING
    if GroupState.PENDING in seen:
        finished = seen - {GroupState.PENDING}
        return GroupState.RUNNING if finished else GroupState.PENDING
    if GroupState.UPSTREAM_FAILED in seen:
        return GroupState.UPSTREAM_FAILED
    if seen == {GroupState.SKIPPED}:
        return GroupState.SKIPPED
    return GroupState.SUCCEEDED
