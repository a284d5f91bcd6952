"""Airflow task-instance states as events for the core ``GroupEngine`` (one rulebook).

Every running piece of a group (a member's wrapper, a deferred member's trigger, the barrier,
the gate) reads the group's task-instance states through the Task SDK and feeds them here;
:class:`GroupWatch` turns what changed since the last read into :class:`groupplug.status.Event`
objects for one :class:`~groupplug.status.GroupEngine` and hands back the engine's actions.
Nothing here decides a rule itself: DESIGN section 3 lives in ``groupplug.status`` only.

How states map to events (per member; a mapped task's instances are members ``name[i]``):

- setup task running -> ``SETUP_STARTED``; success -> ``ARRIVED``; failed -> ``FAILED``
  ("setup failed"); upstream_failed/skipped -> ``UPSTREAM_FAILED``/``SKIPPED``
- main task running or deferred -> ``STARTED``; back to a waiting state after running (a retry:
  up_for_retry, restarting, scheduled, queued) -> ``RETRYING``; final -> the finishing event.
  Deferred or up_for_reschedule -> scheduled/queued is the same run resuming, not a retry.
- the barrier task failed with a timeout (its XCom says so) -> ``GroupEngine.barrier_timed_out``

Pure: no Airflow import, so the rules of the mapping are unit-tested without a scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from groupplug.states import MemberState
from groupplug.status import Action, ActionKind, Event, EventKind, GroupEngine

RUNNING_TI = frozenset({"running", "deferred", "up_for_reschedule"})
WAITING_TI = frozenset({None, "none", "scheduled", "queued", "up_for_retry", "restarting"})
FINAL_TI = {
    "success": EventKind.SUCCEEDED,
    "failed": EventKind.FAILED,
    "upstream_failed": EventKind.UPSTREAM_FAILED,
    "skipped": EventKind.SKIPPED,
    "removed": EventKind.SKIPPED,
}
TIMED_OUT = "timed_out"
#: States after which scheduled/queued is one run resuming (its trigger fired, its reschedule
#: came), not a retry.
RESUMING_FROM = frozenset({"deferred", "up_for_reschedule"})


@dataclass(frozen=True)
class GroupInfo:
    """What a running task needs to know about its group (travels as a plain dict).

    ``mains``/``setups`` map member name -> full task id; ``mapped`` names the members that are
    mapped tasks (their instances are the engine's members ``name[i]``).
    """

    group: str  # dotted groupplug path
    lead: str
    members: tuple[str, ...]
    mains: Mapping[str, str]
    setups: Mapping[str, str] = field(default_factory=dict)
    barrier: str | None = None
    mapped: tuple[str, ...] = ()
    ignore_nonlead_status: bool = True
    barrier_on: bool = False
    gang: bool = False
    retries: Mapping[str, int] = field(default_factory=dict)
    barrier_timeout: float | None = None  # seconds, for every epoch's barrier

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"], data["mapped"] = list(self.members), list(self.mapped)
        data["mains"], data["setups"] = dict(self.mains), dict(self.setups)
        data["retries"] = dict(self.retries)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupInfo:
        values = dict(data)
        values["members"] = tuple(values["members"])
        values["mapped"] = tuple(values.get("mapped", ()))
        return cls(**values)

    def watched_ids(self, me: str | None = None) -> list[str]:
        """Task ids whose states decide a member's fate: with ``ignore_nonlead_status`` only the
        lead's (and the barrier's and the member's own); otherwise every member's. One call."""
        names = list(self.members) if not self.ignore_nonlead_status or me is None \
            else [self.lead, base_name(me)]
        ids = [self.mains[n] for n in dict.fromkeys(names)]
        ids += [self.setups[n] for n in dict.fromkeys(names) if n in self.setups]
        return ids + ([self.barrier] if self.barrier else [])

    def all_ids(self) -> list[str]:
        return self.watched_ids(None)


def as_record(value: Any) -> Any:
    """An XCom record as a mapping: a record a trigger pushed (``TaskSuccessEvent(xcoms=...)``)
    comes back as its JSON text."""
    if isinstance(value, str) and value.startswith("{"):
        import json

        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def base_name(key: str) -> str:
    """``w[3]`` -> ``w``: the task a member key belongs to."""
    return key.split("[", 1)[0]


def member_key(name: str, map_index: int) -> str:
    return f"{name}[{map_index}]" if map_index >= 0 else name


def map_indexes(states: Mapping[str, Any], task_id: str) -> list[int]:
    """The map indexes of ``task_id`` in a ``get_task_states`` answer (keys ``<id>_<index>``)."""
    pattern = re.compile(re.escape(task_id) + r"_(\d+)$")
    return sorted(int(m.group(1)) for k in states if (m := pattern.match(k)))


def member_keys(info: GroupInfo, states: Mapping[str, Any]) -> list[str]:
    """The engine's members: every task, a mapped one as its instances seen so far."""
    keys: list[str] = []
    for name in info.members:
        if name in info.mapped:
            keys += [member_key(name, i) for i in map_indexes(states, info.mains[name])]
        else:
            keys.append(name)
    return keys


def main_state(info: GroupInfo, states: Mapping[str, Any], key: str) -> str | None:
    name = base_name(key)
    tid = info.mains[name]
    if key != name:
        return states.get(f"{tid}_{key[len(name) + 1:-1]}")
    return states.get(tid)


@dataclass(frozen=True)
class Verdict:
    """What a member must do now: ``stop`` (end in ``state`` with ``reason``) or ``restart``."""

    kind: str  # "stop" | "restart"
    state: MemberState = MemberState.SUCCEEDED
    reason: str = ""


class GroupWatch:
    """One engine fed from successive state reads of one group's task instances."""

    def __init__(self, info: GroupInfo):
        self.info = info
        self.engine: GroupEngine | None = None
        self._keys: tuple[str, ...] = ()
        self._seen: dict[tuple[str, str], Any] = {}
        self._history: list[Event | str] = []  # a str is a barrier timeout's reason
        self._timed_out = False
        self.tries: dict[str, int] = {}  # the try each member is known to be on

    # ------------------------------------------------------------------------------ feeding
    def update(
        self,
        states: Mapping[str, Any],
        record_of: Callable[[str], Mapping[str, Any] | None] | None = None,
        barrier_record: Callable[[], Mapping[str, Any] | None] | None = None,
        tries: Mapping[str, int] | None = None,
    ) -> list[Action]:
        """Feed what changed in ``states`` (one ``get_task_states`` answer for this run).

        ``record_of(key)`` reads a finished member's record (only asked in strict mode, once per
        member) so members the group stopped are fed after the member whose failure caused it;
        ``barrier_record()`` reads the barrier's outcome once when the barrier task failed.
        """
        keys = tuple(k for k in member_keys(self.info, states))
        if keys and keys != self._keys:
            self._rebuild(keys)
        if self.engine is None:
            return []
        early, finals = self._events(states)
        early += self._retries_from_tries(tries or {}, states, early)
        if finals and record_of is not None and not self.info.ignore_nonlead_status:
            finals = _stopped_last(finals, record_of)
        actions: list[Action] = []
        for event in early + finals:
            self._history.append(event)
            actions += self.engine.apply(event)
        if self.info.barrier and not self._timed_out and states.get(self.info.barrier) == "failed":
            self._timed_out = True
            record = barrier_record() if barrier_record is not None else None
            if record and record.get("outcome") == TIMED_OUT:
                self._history.append(record.get("reason", "barrier timed out"))
                actions += self.engine.barrier_timed_out(record.get("reason", ""))
        return actions

    def _retries_from_tries(self, tries: Mapping[str, int], states: Mapping[str, Any],
                            early: list[Event]) -> list[Event]:
        """A try number that rose since last seen is a retry the states did not show (the
        member was back to running between two reads). The first sight only records it."""
        events: list[Event] = []
        retried = {e.member for e in early if e.kind is EventKind.RETRYING}
        for key, seen in tries.items():
            known = self.tries.get(key)
            self.tries[key] = max(seen, known or 0)
            if known is None or seen <= known or key in retried:
                continue
            events.append(Event(EventKind.RETRYING, key, "retrying"))
            if main_state(self.info, states, key) in RUNNING_TI:
                events.append(Event(EventKind.STARTED, key))
        return events

    def epoch_of_others(self, key: str) -> int:
        """The highest try a watched member other than ``key`` is on (1 before any retry):
        a member that started after a retry that restarts it counts that attempt too."""
        return max((t for k, t in self.tries.items() if k != key), default=1)

    def epoch(self) -> int:
        """The barrier epoch the group is in, from the tries seen: every retry that restarts
        the others began one (the lead's with ``ignore_nonlead_status``, anyone's without)."""
        if self.info.ignore_nonlead_status:
            return self.tries.get(self.info.lead, 1) - 1
        return sum(t - 1 for t in self.tries.values())

    def restarted(self, key: str) -> None:
        """``key`` began its main work again (after a RESTART action)."""
        event = Event(EventKind.STARTED, key)
        self._history.append(event)
        if self.engine is not None:
            self.engine.apply(event)

    def verdict(self, key: str, actions: Sequence[Action] = ()) -> Verdict | None:
        """What ``key`` must do after the last update: stop once the engine finished it."""
        if self.engine is None or key not in self.engine.states:
            return None
        state = self.engine.states[key]
        if state.finished:
            return Verdict("stop", state, self.engine.reasons[key])
        for action in actions:
            if action.kind is ActionKind.RESTART and action.member == key:
                return Verdict("restart", reason=action.reason)
        return None

    # ------------------------------------------------------------------------------ internals
    def _rebuild(self, keys: tuple[str, ...]) -> None:
        """New members appeared (a mapped task expanded): a fresh engine replays the history."""
        info = self.info
        lead = info.lead if info.lead in keys else None
        if lead is None:
            return  # the lead's task is not visible yet: nothing can be decided
        self.engine = GroupEngine(info.group, list(keys), lead, barrier=info.barrier_on,
                                  ignore_nonlead_status=info.ignore_nonlead_status)
        self._keys = keys
        for past in self._history:
            if isinstance(past, str):
                self.engine.barrier_timed_out(past)
            elif past.member in keys:
                self.engine.apply(past)

    def _events(self, states: Mapping[str, Any]) -> tuple[list[Event], list[Event]]:
        early: list[Event] = []
        finals: list[Event] = []
        for key in self._keys:
            setup_id = self.info.setups.get(base_name(key))
            if setup_id is not None:
                self._setup_events(key, states.get(setup_id), early, finals)
            self._main_events(key, main_state(self.info, states, key), early, finals)
        return early, finals

    def _setup_events(self, key: str, state: Any, early: list[Event], finals: list[Event]) -> None:
        before = self._seen.get((key, "setup"))
        if state == before:
            return
        self._seen[(key, "setup")] = state
        if state in ("running", "deferred"):
            early.append(Event(EventKind.SETUP_STARTED, key))
        elif state == "success":
            early.append(Event(EventKind.ARRIVED, key))
        elif state == "failed":
            finals.append(Event(EventKind.FAILED, key, "setup failed"))
        elif state in FINAL_TI:
            finals.append(Event(FINAL_TI[state], key))

    def _main_events(self, key: str, state: Any, early: list[Event], finals: list[Event]) -> None:
        before = self._seen.get((key, "main"))
        if state == before:
            return
        if before in RESUMING_FROM and state in ("scheduled", "queued"):
            return  # a deferral or reschedule resuming: the same run goes on, not a retry
        self._seen[(key, "main")] = state
        if state in RUNNING_TI and before not in RUNNING_TI:
            early.append(Event(EventKind.STARTED, key))
        elif state in WAITING_TI and before in RUNNING_TI:
            early.append(Event(EventKind.RETRYING, key, "retrying"))
            self.tries[key] = self.tries.get(key, 1) + 1
        elif state in ("up_for_retry", "restarting") and before is None:
            # First seen between two tries (it failed before this watch began): nothing of
            # this member's to restart, but the group is in a later epoch.
            self.tries[key] = max(self.tries.get(key, 1), 2)
        elif state in FINAL_TI:
            finals.append(Event(FINAL_TI[state], key))


def _stopped_last(
    finals: list[Event], record_of: Callable[[str], Mapping[str, Any] | None]
) -> list[Event]:
    """Members the group itself stopped go after the others, so a stop's cause comes first."""
    first, last = [], []
    for event in finals:
        record = record_of(event.member) or {}
        (last if record.get("stopped") else first).append(event)
    return first + last
