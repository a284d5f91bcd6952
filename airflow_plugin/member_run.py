"""A member's work under its group's watch (runs inside the member's own task process).

:func:`run_member` replaces a member operator's ``execute`` (see :mod:`groupplug.airflow.wrap`).
It first reads the group once: a group that already finished ends the member at once with the
decided state (its work never starts). Otherwise it runs the operator's own ``execute`` while a
watcher thread reads the group's task states with ONE ``get_task_states`` call per
:data:`POLL_INTERVAL`, feeds them to the core ``GroupEngine`` (:mod:`groupplug.airflow.watch`)
and, when the engine stops or restarts this member, interrupts the work
(:mod:`groupplug.airflow.stopper`: a signal to the main thread, then ``on_kill()``).

A stopped member ends in the engine's state: succeeded -> the task succeeds; failed ->
``AirflowFailException`` (no Airflow retry: the group decided). Its record (state, reason,
attempts, times) goes to XCom ``groupplug_member`` for the gate. A member that defers has its
trigger wrapped by :class:`groupplug.airflow.deferral.GroupDeferTrigger`, which watches the group
from the triggerer and resumes the task into :func:`resume_member`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from groupplug.states import MemberState

from . import naming
from ._compat import AirflowFailException, AirflowSkipException, TaskDeferred
from .reform import reform_barrier
from .stopper import GroupStop, Stopper
from .watch import FINAL_TI, GroupInfo, GroupWatch, Verdict, as_record, base_name, member_key

#: Seconds between two reads of the group's states by a running member. One read costs one
#: execution-API call; 1 s keeps a lead's end to its members' end under 2 s. The environment
#: variable ``GROUPPLUG_AIRFLOW_POLL_SECONDS`` (set on the workers) trades latency for API load.
POLL_INTERVAL = float(os.environ.get("GROUPPLUG_AIRFLOW_POLL_SECONDS", "1.0"))
RESUME_METHOD = "groupplug_resume"
#: Seconds between the last gang member arriving and all of them starting together.
GANG_MARGIN = 3.0
#: In groups whose watched members have retries, their try numbers are read every this many
#: polls (an extra call): Airflow retries at once with retry_delay=0, often between two state
#: reads, and only the try number then shows the retry. Groups without retries pay nothing.
TRY_EVERY = 1
#: How long a member retries its first read of the group before it fails (the watcher, once
#: the work runs, retries its reads for as long as the work lasts).
FIRST_READ_SECONDS = 30.0

log = logging.getLogger(__name__)


def read_states(ti: Any, ids: list[str]) -> dict[str, Any]:
    """The states of ``ids`` in this run (mapped instances as ``<id>_<index>``): one call."""
    answer = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=ids)
    return dict(answer.get(ti.run_id, {}))


class GroupReader:
    """Reads the group through the Task SDK and keeps one :class:`GroupWatch` up to date."""

    def __init__(self, info: GroupInfo, ti: Any, key: str):
        self.info, self.ti, self.key = info, ti, key
        self.watch = GroupWatch(info)
        self._ids = info.watched_ids(key)
        self._lock = threading.Lock()  # the main thread and the watcher both poll at times
        # Members whose retries restart this one publish their try (XCom); read every
        # TRY_EVERY polls, only in groups whose members have retries.
        watched = {base_name(key), info.lead} if info.ignore_nonlead_status else set(info.members)
        self._try_ids = {n: info.mains[n] for n in watched
                         if info.retries.get(n) and n not in info.mapped}
        self._polls = 0

    def poll(self) -> Verdict | None:
        with self._lock:
            states = read_states(self.ti, self._ids)
            tries = self._tries() if self._try_ids and self._polls % TRY_EVERY == 0 else None
            self._polls += 1
            actions = self.watch.update(states, self._record_of, self._barrier_record, tries)
            return self.watch.verdict(self.key, actions)

    def poll_quietly(self) -> Verdict | None:
        """:meth:`poll`, with a failed read (the API server busy or restarting) logged and
        taken as "nothing new": the next read decides."""
        try:
            return self.poll()
        except Exception:  # noqa: BLE001 - one failed read must not end the member
            log.warning("groupplug: %s: reading group %s failed; reading again", self.key,
                        self.info.group, exc_info=True)
            return None

    def states(self, ids: list[str]) -> dict[str, Any]:
        """The states of ``ids`` in this run (one call)."""
        return read_states(self.ti, ids)

    def _tries(self) -> dict[str, int]:
        found = {}
        for name, tid in self._try_ids.items():
            if tid == self.ti.task_id:
                found[name] = self.ti.try_number
            elif (value := self.ti.xcom_pull(task_ids=tid, key=naming.XCOM_TRY)) is not None:
                found[name] = int(value)
        return found

    def restarted(self) -> None:
        with self._lock:
            self.watch.restarted(self.key)

    def _record_of(self, key: str) -> Mapping[str, Any] | None:
        name = base_name(key)
        index = int(key[len(name) + 1:-1]) if key != name else None
        kwargs: dict[str, Any] = {"map_indexes": index} if index is not None else {}
        return as_record(self.ti.xcom_pull(task_ids=self.info.mains[name],
                                           key=naming.XCOM_MEMBER, **kwargs))

    def _barrier_record(self) -> Mapping[str, Any] | None:
        return self.ti.xcom_pull(task_ids=self.info.barrier, key=naming.XCOM_BARRIER)


class _Watcher(threading.Thread):
    def __init__(self, reader: GroupReader, stopper: Stopper, interval: float):
        super().__init__(name="groupplug-watch", daemon=True)
        self.reader, self.stopper, self.interval = reader, stopper, interval
        self.verdict: Verdict | None = None
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            verdict = self.reader.poll_quietly()
            if verdict is not None and not self._done.is_set():
                self.verdict = verdict
                self.stopper.stop()
                return

    def finish(self) -> None:
        self._done.set()


class MemberRun:
    """One task instance of a member: runs, watches, and ends in the group's verdict."""

    def __init__(self, info: GroupInfo, context: Mapping[str, Any],
                 record: Mapping[str, Any] | None = None):
        self.info = info
        self.ti = context["ti"]
        self.task = self.ti.task
        index = getattr(self.ti, "map_index", None)
        self.key = member_key(self.info_name(), -1 if index is None else index)
        self.reader = GroupReader(info, self.ti, self.key)
        self.record: dict[str, Any] = dict(record or {"state": "running", "reason": "",
                                                     "runs": 0, "started_at": None,
                                                     "finished_at": None})

    def info_name(self) -> str:
        task_id = self.ti.task_id
        for name, main in self.info.mains.items():
            if main == task_id:
                return name
        raise RuntimeError(f"task {task_id!r} is not a member of group {self.info.group!r}")

    # ------------------------------------------------------------------------------ running
    def run(self, work: Callable[[], Any], *, check_first: bool = True,
            new_run: bool = True) -> Any:
        """Run ``work`` (the operator's execute or resume) under the group's watch;
        ``new_run=False`` continues a run that deferred (it is not counted again)."""
        try:
            return self._run(work, check_first=check_first, new_run=new_run)
        except TaskDeferred:
            raise
        except BaseException as error:
            # Whatever ended the task before it recorded an outcome (a group read that kept
            # failing, an interrupt) is said in the member's record, not left for the gate to
            # report as a bare "task failed in Airflow".
            if self.record["state"] == "running":
                self._failed(error)
            raise

    def _run(self, work: Callable[[], Any], *, check_first: bool, new_run: bool) -> Any:
        if check_first and self.info.retries.get(base_name(self.key)):
            self.ti.xcom_push(key=naming.XCOM_TRY, value=self.ti.try_number)
        if check_first:
            verdict = self._first_poll()
            if verdict is not None and verdict.kind == "stop":
                log.warning("groupplug: %s: group %s already decided (%s); not starting",
                            self.key, self.info.group, verdict.reason)
                return self.end(verdict)
            if self.info.gang:
                verdict = gang_rendezvous(self)
                if verdict is not None:
                    return self.end(verdict)
            # A retry's new try, or a first try that begins after a peer's retry, starts with
            # the others at the re-formed barrier of that epoch.
            verdict = reform_barrier(self, POLL_INTERVAL)
            if verdict is not None:
                return self.end(verdict)
        while True:
            if new_run:
                self.record["runs"] += 1
                self.record["started_at"] = self.record["started_at"] or time.time()
            new_run = True
            outcome = self._attempt(work)
            if isinstance(outcome, Verdict) and outcome.kind == "restart":
                log.warning("groupplug: %s restarts: %s", self.key, outcome.reason)
                verdict = reform_barrier(self, POLL_INTERVAL)
                if verdict is not None:
                    return self.end(verdict)
                self.reader.restarted()
                self.record["started_at"] = None
                continue
            if isinstance(outcome, Verdict):
                return self.end(outcome)
            return outcome

    def _first_poll(self) -> Verdict | None:
        """The group's verdict before the work starts. A read that fails (the API server busy
        or restarting) is retried for :data:`FIRST_READ_SECONDS`, as the watcher retries its
        reads, before the member fails naming the group it could not read."""
        deadline = time.monotonic() + FIRST_READ_SECONDS
        while True:
            try:
                return self.reader.poll()
            except Exception as error:
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"groupplug: {self.key} could not read group "
                                       f"{self.info.group} for {FIRST_READ_SECONDS:.0f} s: "
                                       f"{error}") from error
                log.warning("groupplug: %s: reading group %s failed (%s); retrying",
                            self.key, self.info.group, error)
                time.sleep(POLL_INTERVAL)

    def _attempt(self, work: Callable[[], Any]) -> Any:
        stopper = Stopper(self.task.on_kill)
        watcher = _Watcher(self.reader, stopper, POLL_INTERVAL)
        try:
            with stopper:
                watcher.start()
                try:
                    result = work()
                finally:
                    watcher.finish()
        except TaskDeferred as deferred:
            raise self.defer(deferred) from None
        except GroupStop:
            pass
        except BaseException as error:
            if not stopper.fired:
                self._failed(error)
                raise
            # The work ended by our stop (on_kill made a subprocess fail): the verdict stands.
        else:
            if not stopper.fired:
                missed = self._missed_restart()
                return missed if missed is not None else self._succeeded(result)
        watcher.join(5)
        stopper.kill()
        assert watcher.verdict is not None
        return watcher.verdict

    def _missed_restart(self) -> Verdict | None:
        """One more read when the work ends by itself: a peer's retry that came while it ran
        but was not seen yet (polls are slow on a loaded api-server; CI saw a lead end 0.7 s
        after the retry it should have restarted for) restarts this member instead of letting
        it succeed. A failed read changes nothing: the work did succeed."""
        try:
            verdict = self.reader.poll()
        except Exception:  # noqa: BLE001 - the outcome stands without this read
            log.warning("groupplug: %s: the last read of group %s failed", self.key,
                        self.info.group, exc_info=True)
            return None
        return verdict if verdict is not None and verdict.kind == "restart" else None

    # ------------------------------------------------------------------------------ endings
    def _push(self) -> None:
        # A retry stopped before its work began still was an attempt (Airflow started it).
        runs = max(self.record["runs"], 1 if self.ti.try_number > 1 else 0)
        self.record["attempts"] = max(self.ti.try_number - 1 + runs,
                                      self.reader.watch.epoch_of_others(self.key))
        self.ti.xcom_push(key=naming.XCOM_MEMBER, value=dict(self.record))

    def _succeeded(self, result: Any) -> Any:
        self.record.update(state="succeeded", finished_at=time.time())
        self._push()
        return result

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, AirflowSkipException):
            self.record.update(state="skipped", reason=str(error) or "skipped")
        else:
            self.record.update(state="failed", reason=f"{type(error).__name__}: {error}"[:500])
        self.record["finished_at"] = time.time()
        self._push()

    def end(self, verdict: Verdict) -> None:
        """End this task instance in the group's verdict (never started, or stopped)."""
        self.record.update(state=verdict.state.value, reason=verdict.reason, stopped=True,
                           finished_at=time.time())
        self._push()
        log.warning("groupplug: %s stopped by group %s: %s -> %s", self.key, self.info.group,
                    verdict.reason, verdict.state.value)
        if verdict.state is MemberState.SUCCEEDED:
            return None
        if verdict.state is MemberState.SKIPPED:
            raise AirflowSkipException(f"group {self.info.group}: {verdict.reason}")
        raise AirflowFailException(f"stopped by group {self.info.group}: {verdict.reason}")

    # ------------------------------------------------------------------------------ deferral
    def defer(self, deferred: TaskDeferred) -> TaskDeferred:
        """The member's own trigger, wrapped so the group can end it (its cleanup runs)."""
        from .deferral import GroupDeferTrigger

        self.record["attempts"] = self.ti.try_number - 1 + self.record["runs"]
        trigger = GroupDeferTrigger(
            inner=list(deferred.trigger.serialize()), info=self.info.to_dict(), member=self.key,
            dag_id=self.ti.dag_id, run_id=self.ti.run_id, poll_interval=POLL_INTERVAL,
            record=self.record)
        kwargs = {"inner_method": deferred.method_name, "inner_kwargs": deferred.kwargs or {},
                  "record": dict(self.record)}
        return TaskDeferred(trigger=trigger, method_name=RESUME_METHOD, kwargs=kwargs,
                            timeout=deferred.timeout)


def gang_rendezvous(run: MemberRun) -> Verdict | None:
    """Gang mode: every member starts its main work at the same wall-clock instant.

    Each member publishes when it began running; once all are running, each computes the
    same start time (the last arrival + :data:`GANG_MARGIN`) and sleeps until then, so the
    spread is clock jitter, not how fast each member happens to poll the API. The group ending
    meanwhile (the lead failed to start) ends the wait with the engine's verdict.
    """
    ti, info = run.ti, run.info
    arrived_at = time.time()
    ti.xcom_push(key=naming.XCOM_GANG, value=arrived_at)
    others = [tid for name, tid in info.mains.items() if tid != ti.task_id]
    polls = 0
    while True:
        states = read_states(ti, others)
        if all(states.get(t) == "running" or states.get(t) in FINAL_TI for t in others):
            running = [t for t in others if states.get(t) == "running"]
            arrived = ti.xcom_pull(task_ids=running, key=naming.XCOM_GANG,
                                   map_indexes=-1) if running else []
            arrived = arrived if isinstance(arrived, list) else [arrived]
            if all(a is not None for a in arrived):
                start = max([arrived_at, *arrived]) + GANG_MARGIN  # the same for everyone
                time.sleep(max(0.0, start - time.time()))
                return None
        polls += 1
        if polls % 5 == 0:
            verdict = run.reader.poll()
            if verdict is not None and verdict.kind == "stop":
                return verdict
        time.sleep(0.2)


def run_member(info: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    """The wrapped ``execute``: the operator's own, under its group's watch."""
    task = context["ti"].task
    run = MemberRun(GroupInfo.from_dict(info), context)
    return run.run(lambda: type(task).execute(task, context))


def resume_member(
    info: Mapping[str, Any], context: Mapping[str, Any], event: Any = None, *,
    inner_method: str | None = None, inner_kwargs: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
) -> Any:
    """Where a wrapped trigger resumes the task: the group's verdict, or the member's method."""
    task = context["ti"].task
    run = MemberRun(GroupInfo.from_dict(info), context, record)
    event = event or {}
    kind = event.get("groupplug") if isinstance(event, Mapping) else None
    if kind == "stop":
        return run.end(Verdict("stop", MemberState(event["state"]), event["reason"]))
    if kind == "restart":
        verdict = reform_barrier(run, POLL_INTERVAL, fresh=True)
        if verdict is not None:
            return run.end(verdict)
        run.reader.restarted()
        return run.run(lambda: type(task).execute(task, context), check_first=False)
    payload = event.get("payload") if kind == "inner" else event
    method = getattr(type(task), inner_method or "execute_complete")
    return run.run(lambda: method(task, context, event=payload, **dict(inner_kwargs or {})),
                   check_first=False, new_run=False)
