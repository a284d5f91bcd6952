"""Messages between a group's subflow (which runs the status engine) and its member tasks.

Members post events (setup started, arrived, started, finished, retrying); the subflow posts
commands (release an epoch of the barrier, stop, restart). Two stores, chosen by task runner:

- :class:`InMemoryChannel` for runners whose tasks share the subflow's process (the default
  thread pool): a condition variable, so a release wakes every member at once.
- :class:`VariablesChannel` for runners whose tasks run elsewhere (Dask processes, other
  machines): each message is a Prefect Variable, so every worker that reaches the Prefect API
  reaches the barrier too, with nothing else to deploy. A reader lists its mailbox with one
  name-prefix query per poll; a broadcast box makes a release one write for all members.
  A reader that gets no answer from the server for ``GROUPPLUG_PREFECT_DOWN_SECONDS`` (60 s)
  raises :class:`ChannelLost`: a member then stops its command and fails instead of running
  on for a group that can no longer reach it (Prefect's client alone retries a dead server
  for about a minute per call, and a member whose run ended meanwhile would never be told).
  The owner (the group's subflow or flow) also *beats*: it bumps ``gp_<key>_beat_000000`` every
  :data:`BEAT_SECONDS`. A reader that sees the beat stand still for
  ``GROUPPLUG_PREFECT_ORPHAN_SECONDS`` (the down limit + 30 s; the run's setting travels in the
  :class:`ChannelSpec`) raises :class:`ChannelLost` too:
  the group's run is gone (it gave up on a server that has since come back, or its process
  died), nobody will ever post this member a stop, and it must not run on alone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Protocol

from groupplug.exceptions import EngineFailed

from ._server import DOWN_ENV, DOWN_SECONDS

BROADCAST = "all"
BEAT_BOX = "beat"
#: Seconds between two beats of a channel's owner.
BEAT_SECONDS = 5.0
ORPHAN_ENV = "GROUPPLUG_PREFECT_ORPHAN_SECONDS"

log = logging.getLogger(__name__)


def orphan_limit() -> float:
    """``GROUPPLUG_PREFECT_ORPHAN_SECONDS``, else the down limit + 30 s: longer than any
    server outage the owner itself rides out, so a live owner is never taken for gone."""
    down = float(os.environ.get(DOWN_ENV, DOWN_SECONDS))
    return float(os.environ.get(ORPHAN_ENV, down + 30))


class ChannelLost(EngineFailed):
    """The Prefect server holding a group's messages has not answered for too long."""


class Channel(Protocol):
    """Mailboxes of JSON messages: ``post`` appends, ``read`` returns what is new."""

    def post(self, box: str, message: dict[str, Any]) -> None: ...

    def read(self, boxes: list[str], cursor: dict[str, int], wait: float) -> list[
        tuple[str, dict[str, Any]]]: ...

    def beat(self) -> None:
        """The owner is alive (called on every turn of its loop; cheap when called often)."""

    def detach(self) -> None:
        """A member is done with the channel (the group's subflow still owns it)."""

    def close(self) -> None:
        """The owner (the group's subflow) is done: release everything."""


@dataclass
class ChannelSpec:
    """A picklable description a member task uses to open the group's channel."""

    kind: str  # "memory" | "variables"
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: Seconds without the owner's beat after which a member gives up on its group. Set where
    #: the run starts (its environment), so members on other machines need no setting.
    orphan_seconds: float = field(default_factory=orphan_limit)

    def open(self) -> Channel:
        if self.kind == "memory":
            return InMemoryChannel.registry(self.key)
        return VariablesChannel(self.key, self.orphan_seconds)


def channel_kind(runner: Any, requested: str | None) -> str:
    """The channel for members a ``runner`` runs: memory when they share this process."""
    if requested:
        return requested
    from prefect.task_runners import ThreadPoolTaskRunner

    return "memory" if isinstance(runner, ThreadPoolTaskRunner) else "variables"


class InMemoryChannel:
    """One process, many threads: lists under one lock; a post wakes only that box's readers."""

    _instances: dict[str, InMemoryChannel] = {}
    _registry_lock = threading.Lock()

    @classmethod
    def registry(cls, key: str) -> InMemoryChannel:
        with cls._registry_lock:
            return cls._instances.setdefault(key, cls())

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[str, list[dict[str, Any]]] = {}
        # Waking every waiting member on every event made a 100-member group spend its time in
        # wake-ups: a reader waits on its own condition, registered for the boxes it reads.
        self._waiters: dict[str, set[threading.Condition]] = {}

    def post(self, box: str, message: dict[str, Any]) -> None:
        with self._lock:
            self._boxes.setdefault(box, []).append(message)
            for waiter in self._waiters.get(box, ()):
                waiter.notify()

    def read(self, boxes: list[str], cursor: dict[str, int], wait: float) -> list[
            tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + wait
        waiter = threading.Condition(self._lock)
        with self._lock:
            new = self._new(boxes, cursor)
            if new or wait <= 0:
                return new
            for box in boxes:
                self._waiters.setdefault(box, set()).add(waiter)
            try:
                while not new:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    waiter.wait(remaining)
                    new = self._new(boxes, cursor)
            finally:
                for box in boxes:
                    self._waiters[box].discard(waiter)
            return new

    def _new(self, boxes: list[str], cursor: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for box in boxes:
            messages = self._boxes.get(box, [])
            start = cursor.get(box, 0)
            found += [(box, m) for m in messages[start:]]
            cursor[box] = len(messages)
        return found

    def beat(self) -> None:
        pass  # members share the owner's process: they end with it

    def detach(self) -> None:
        pass  # shared with the subflow and the other members: only the owner closes it

    def close(self) -> None:
        with self._registry_lock:
            for key, value in list(self._instances.items()):
                if value is self:
                    del self._instances[key]


class VariablesChannel:
    """Messages as Prefect Variables named ``gp_<key>_<box>_<seq>``, read by name prefix."""

    POLL = 0.05

    def __init__(self, key: str, orphan_seconds: float):
        from prefect.client.orchestration import get_client

        self.key = key
        self.orphan_seconds = orphan_seconds
        self._client = get_client(sync_client=True)
        self._client.__enter__()
        self._sent: dict[str, int] = {}
        # Listing runs in a thread of its own, so a reader can give up on a server that does
        # not answer while Prefect's client is still retrying it.
        self._lister = ThreadPoolExecutor(1, thread_name_prefix="groupplug-channel")
        self._listing: Future[list[dict[str, Any]]] | None = None
        # The owner's beats go out from a thread of their own: a dead server must not hold
        # the owner's loop in Prefect's client retries.
        self._beater = ThreadPoolExecutor(1, thread_name_prefix="groupplug-beat")
        self._beating: Future[None] | None = None
        self._beats, self._beat_at = 0, float("-inf")
        self._beat_seen: Any = None  # the last beat value read, and when it changed
        self._beat_changed = time.monotonic()
        self.lost = False  # a read raised ChannelLost: the server (or the owner) is gone

    def _name(self, box: str, seq: int) -> str:
        return f"gp_{self.key}_{box}_{seq:06d}"

    def post(self, box: str, message: dict[str, Any]) -> None:
        from prefect.client.schemas.actions import VariableCreate

        seq = self._sent[box] = self._sent.get(box, 0) + 1
        value = json.dumps(message)
        self._client.create_variable(VariableCreate(name=self._name(box, seq), value=value))

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._beat_at < BEAT_SECONDS or (self._beating and not self._beating.done()):
            return
        self._beat_at, self._beats = now, self._beats + 1
        self._beating = self._beater.submit(self._send_beat, self._beats)

    def _send_beat(self, count: int) -> None:
        from prefect.client.schemas.actions import VariableCreate, VariableUpdate

        name = self._name(BEAT_BOX, 0)
        try:
            if count == 1:
                self._client.create_variable(VariableCreate(name=name, value=str(count)))
            else:
                self._client.update_variable(VariableUpdate(name=name, value=str(count)))
        except Exception as error:  # noqa: BLE001 - the next beat tries again
            log.warning("group channel %s: beat %d not sent: %s", self.key, count, error)

    def read(self, boxes: list[str], cursor: dict[str, int], wait: float) -> list[
            tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + wait
        while True:
            new = self._fetch(boxes, cursor)
            if new or time.monotonic() >= deadline:
                return new
            time.sleep(self.POLL)

    def _fetch(self, boxes: list[str], cursor: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
        prefix = f"gp_{self.key}_"
        found = []
        listed = self._listed(prefix)
        self._check_owner(listed)
        for variable in listed:
            box, _, seq = variable["name"][len(prefix):].rpartition("_")
            if box in boxes and int(seq) > cursor.get(box, 0):
                found.append((int(seq), box, variable["value"]))
        found.sort()
        result = []
        for seq, box, value in found:
            cursor[box] = max(cursor.get(box, 0), seq)
            result.append((box, json.loads(value) if isinstance(value, str) else value))
        return result

    def _check_owner(self, listed: list[dict[str, Any]]) -> None:
        """:class:`ChannelLost` when the owner's beat has stood still for the orphan limit."""
        name = self._name(BEAT_BOX, 0)
        value = next((v["value"] for v in listed if v["name"] == name), None)
        now = time.monotonic()
        if value != self._beat_seen:
            self._beat_seen, self._beat_changed = value, now
            return
        limit = self.orphan_seconds
        if value is not None and now - self._beat_changed > limit:
            self.lost = True
            raise ChannelLost(f"group channel {self.key}: the group's run has not been heard "
                              f"from for {limit:.0f} s (its process ended, or it gave up on "
                              "the Prefect server); nobody is left to stop this member")

    def delete_all(self) -> None:
        """Remove every message of this channel (the run is over)."""
        self._beat_at = float("inf")  # no more beats; the one in flight lands first
        if self._beating is not None:
            try:
                self._beating.result(timeout=BEAT_SECONDS)
            except FutureTimeout:
                pass
        for variable in self._list(f"gp_{self.key}_"):
            self._client.delete_variable_by_name(variable["name"])

    def _listed(self, prefix: str) -> list[dict[str, Any]]:
        """The channel's messages. A read waits for the server as long as it may be away (a
        restart), so it always sees what was posted before it (a member's last event is never
        missed); :class:`ChannelLost` when the server has not answered for the whole limit,
        even while Prefect's client is still retrying it in the listing thread."""
        limit = float(os.environ.get(DOWN_ENV, DOWN_SECONDS))
        deadline = time.monotonic() + limit
        error: BaseException | None = None
        while True:
            if self._listing is None:
                self._listing = self._lister.submit(self._list, prefix)
            left = deadline - time.monotonic()
            try:
                variables = self._listing.result(timeout=max(left, 0.0))
            except FutureTimeout:
                break
            except Exception as exc:  # noqa: BLE001 - asked again until the limit
                self._listing, error = None, exc
                if left <= 0:
                    break
                time.sleep(min(0.5, left))
                continue
            self._listing = None
            return variables
        api = getattr(self._client, "api_url", "the Prefect API")
        self.lost = True
        raise ChannelLost(f"group channel {self.key}: the Prefect server at {api} has not "
                          f"answered for {limit:.0f} s"
                          + (f" (last error: {error})" if error else "")) from error

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        variables: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._client.request("POST", "/variables/filter", json={
                "variables": {"name": {"like_": prefix + "%"}}, "limit": 200,
                "offset": offset, "sort": "NAME_ASC"}).json()
            offset += len(page)
            variables += [v for v in page if v["name"].startswith(prefix)]
            if len(page) < 200:
                return variables

    def detach(self) -> None:
        self.close()

    def close(self) -> None:
        self._lister.shutdown(wait=False, cancel_futures=True)
        self._beater.shutdown(wait=False, cancel_futures=True)
        self._client.__exit__(None, None, None)


def delete_messages(channel: Any, path: str) -> None:
    """Remove a finished group's messages from the server. Best effort: when the server is
    the reason the group ended, the failure that ended it is what the run must report."""
    if getattr(channel, "lost", False):
        log.warning("group %s: its messages (Prefect variables gp_%s_*) are left on the server: "
                    "it stopped answering", path, channel.key)
        return
    try:
        channel.delete_all()
    except Exception as error:  # noqa: BLE001 - logged with what to clean up by hand
        log.warning("group %s: its messages (Prefect variables gp_%s_*) were not deleted: %s",
                    path, channel.key, error)
