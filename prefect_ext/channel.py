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
"""

from __future__ import annotations

import json
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


class ChannelLost(EngineFailed):
    """The Prefect server holding a group's messages has not answered for too long."""


class Channel(Protocol):
    """Mailboxes of JSON messages: ``post`` appends, ``read`` returns what is new."""

    def post(self, box: str, message: dict[str, Any]) -> None: ...

    def read(self, boxes: list[str], cursor: dict[str, int], wait: float) -> list[
        tuple[str, dict[str, Any]]]: ...

    def detach(self) -> None:
        """A member is done with the channel (the group's subflow still owns it)."""

    def close(self) -> None:
        """The owner (the group's subflow) is done: release everything."""


@dataclass
class ChannelSpec:
    """A picklable description a member task uses to open the group's channel."""

    kind: str  # "memory" | "variables"
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def open(self) -> Channel:
        if self.kind == "memory":
            return InMemoryChannel.registry(self.key)
        return VariablesChannel(self.key)


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

    def __init__(self, key: str):
        from prefect.client.orchestration import get_client

        self.key = key
        self._client = get_client(sync_client=True)
        self._client.__enter__()
        self._sent: dict[str, int] = {}
        # Listing runs in a thread of its own, so a reader can give up on a server that does
        # not answer while Prefect's client is still retrying it.
        self._lister = ThreadPoolExecutor(1, thread_name_prefix="groupplug-channel")
        self._listing: Future[list[dict[str, Any]]] | None = None

    def _name(self, box: str, seq: int) -> str:
        return f"gp_{self.key}_{box}_{seq:06d}"

    def post(self, box: str, message: dict[str, Any]) -> None:
        from prefect.client.schemas.actions import VariableCreate

        seq = self._sent[box] = self._sent.get(box, 0) + 1
        value = json.dumps(message)
        self._client.create_variable(VariableCreate(name=self._name(box, seq), value=value))

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
        for variable in self._listed(prefix):
            box, _, seq = variable["name"][len(prefix):].rpartition("_")
            if box in boxes and int(seq) > cursor.get(box, 0):
                found.append((int(seq), box, variable["value"]))
        found.sort()
        result = []
        for seq, box, value in found:
            cursor[box] = max(cursor.get(box, 0), seq)
            result.append((box, json.loads(value) if isinstance(value, str) else value))
        return result

    def delete_all(self) -> None:
        """Remove every message of this channel (the run is over)."""
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
        self._client.__exit__(None, None, None)
