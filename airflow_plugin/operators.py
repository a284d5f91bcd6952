"""The operators a group member renders to: its setup and its main work.

Both run a shell command in its own process group (output in the task log) and poll their peers
through the Task SDK (``RuntimeTaskInstance.get_task_states``: no database access, so the same on
every executor); see :mod:`groupplug.airflow.watch` for the rules and why. What Airflow states
cannot say (reason, attempts, times) is pushed as XCom for the gate and the status view.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from groupplug.shell import run_watched

from . import naming
from .watch import FINAL, Decision, MemberWatch

POLL_INTERVAL = 0.5
#: Seconds between the last gang member arriving and all of them starting together.
GANG_MARGIN = 3.0


def _states(ti: Any, task_ids: Sequence[str]) -> dict[str, str | None]:
    if not task_ids:
        return {}
    answer = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=list(task_ids))
    return dict(answer.get(ti.run_id, {}))


class GroupSetupOperator(BaseOperator):
    """Runs a member's ``setup`` (may be empty) before the barrier and records its arrival.

    Stops early when the member's fate is already decided: its group's barrier ended without
    releasing (timeout, or the lead left) or the lead finished.
    """

    template_fields: Sequence[str] = ("command",)
    ui_color = "#e8f0fe"

    def __init__(
        self, *, command: str | None, member: str, group: str, lead_main: str,
        barrier_task: str | None, **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.command = command
        self.member = member
        self.group = group
        self.lead_main = lead_main
        self.barrier_task = barrier_task

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        if not self.command:
            self._push(ti, {"finished_at": time.time()})
            return
        rc, why = run_watched(self.command, self.log, lambda: self._stop_reason(ti),
                              POLL_INTERVAL)
        if why is not None:
            self.log.warning("groupplug: setup of %s stopped: %s", self.member, why)
            self._push(ti, {"stopped_at": time.time(), "reason": why})
            if why.endswith("(succeeded)"):
                return  # the main task ends succeeded at once, as the lead did
            raise AirflowFailException(f"setup stopped: {why}")
        if rc != 0:
            reason = f"setup failed (exit {rc})"
            self._push(ti, {"stopped_at": time.time(), "reason": reason})
            raise AirflowFailException(reason)
        self._push(ti, {"finished_at": time.time()})

    def _stop_reason(self, ti: Any) -> str | None:
        ids = [self.lead_main] + ([self.barrier_task] if self.barrier_task else [])
        states = _states(ti, ids)
        if self.barrier_task and states.get(self.barrier_task) == "failed":
            return "lead finished"
        lead = states.get(self.lead_main)
        if lead in FINAL and self.lead_main != naming.main_id(self.group, self.member):
            return "lead finished (succeeded)" if lead == "success" else "lead finished"
        return None

    def _push(self, ti: Any, value: Mapping[str, Any]) -> None:
        ti.xcom_push(key=naming.XCOM_SETUP, value=dict(value))


class GroupMemberOperator(BaseOperator):
    """A member's main work: waits (gang mode), runs, and follows its lead (DESIGN section 3)."""

    template_fields: Sequence[str] = ("command",)
    ui_color = "#fdf2d0"

    def __init__(
        self, *, command: str, member: str, group: str, lead: str, peers: Mapping[str, str],
        ignore_nonlead_status: bool = True, gang: bool = False, **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.command = command
        self.member = member
        self.group = group
        self.lead = lead
        self.peers = dict(peers)
        self.ignore_nonlead_status = ignore_nonlead_status
        self.gang = gang

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        ti.xcom_push(key=naming.XCOM_TRY, value=ti.try_number)  # this member's epoch
        watch = MemberWatch(self.member, self.lead, self.peers, self.ignore_nonlead_status)
        record: dict[str, Any] = {"state": "running", "reason": "", "cause": "", "runs": 0,
                                  "attempts": 0, "started_at": None, "finished_at": None}
        decision = self._decide(ti, watch)  # the lead may have finished before we started
        if decision is None and self.gang:
            decision = self._gang_rendezvous(ti, watch)
        while decision is None or decision.action == "restart":
            if decision is not None:
                self.log.warning("groupplug: %s: %s", self.member, decision.reason)
            record["runs"] += 1
            record["started_at"] = time.time()
            self.log.info("groupplug: %s starts its main work (run %d)", self.member,
                          record["runs"])
            rc, _ = run_watched(self.command, self.log, lambda: self._stop_now(ti, watch),
                                POLL_INTERVAL)
            record["attempts"] = max(ti.try_number - 1 + record["runs"], watch.epoch)
            if rc is not None:
                return self._finished(ti, record, rc)
            decision = self._last
        record["attempts"] = max(ti.try_number - 1 + record["runs"], watch.epoch,
                                 record["attempts"])
        self._stopped(ti, record, decision)

    # -- decisions ------------------------------------------------------------------------------

    _last: Decision | None = None

    def _decide(self, ti: Any, watch: MemberWatch) -> Decision | None:
        ids = watch.watched
        states = _states(ti, ids)
        # map_indexes=-1: one value per task, None where absent, so the list lines up with ids.
        pulled = ti.xcom_pull(task_ids=ids, key=naming.XCOM_TRY, map_indexes=-1) if ids else []
        tries = dict(zip(ids, pulled if isinstance(pulled, list) else [pulled], strict=False))

        def cause_of(task_id: str) -> str | None:
            pushed = ti.xcom_pull(task_ids=task_id, key=naming.XCOM_MEMBER)
            return (pushed or {}).get("cause") or None

        return watch.decide(states, tries, cause_of)

    def _stop_now(self, ti: Any, watch: MemberWatch) -> str | None:
        self._last = self._decide(ti, watch)
        return self._last.reason if self._last else None

    def _gang_rendezvous(self, ti: Any, watch: MemberWatch) -> Decision | None:
        """Gang mode: every member starts its main work at the same wall-clock instant.

        Each member publishes when it began running; once all are running, each computes the
        same start time (the last arrival + :data:`GANG_MARGIN`) and sleeps until then, so the
        spread is clock jitter, not how fast each member happens to poll the API.
        """
        arrived_at = time.time()
        ti.xcom_push(key=naming.XCOM_GANG, value=arrived_at)
        others = [tid for name, tid in self.peers.items() if name != self.member]
        polls = 0
        while True:
            states = _states(ti, others)
            if all(states.get(t) == "running" or states.get(t) in FINAL for t in others):
                running = [t for t in others if states.get(t) == "running"]
                arrived = ti.xcom_pull(task_ids=running, key=naming.XCOM_GANG,
                                       map_indexes=-1) if running else []
                arrived = arrived if isinstance(arrived, list) else [arrived]
                if all(a is not None for a in arrived):
                    start = max([arrived_at, *arrived]) + GANG_MARGIN  # the same for everyone
                    time.sleep(max(0.0, start - time.time()))
                    return None
            polls += 1
            if polls % 5 == 0:  # the lead may end the group while we gather
                decision = self._decide(ti, watch)
                if decision is not None and decision.action == "stop":
                    return decision
            time.sleep(0.2)  # 20 members polling share one api-server: poll gently

    # -- endings --------------------------------------------------------------------------------

    def _push(self, ti: Any, record: Mapping[str, Any]) -> None:
        ti.xcom_push(key=naming.XCOM_MEMBER, value=dict(record))

    def _finished(self, ti: Any, record: dict[str, Any], rc: int) -> None:
        record["finished_at"] = time.time()
        if rc == 0:
            record.update(state="succeeded")
            self._push(ti, record)
            return
        record.update(state="failed", reason=f"exit code {rc}", cause=self.member)
        self._push(ti, record)
        raise AirflowException(f"{self.member}: command exited with {rc}")  # may be retried

    def _stopped(self, ti: Any, record: dict[str, Any], decision: Decision) -> None:
        record.update(state=decision.state, reason=decision.reason, cause=decision.cause,
                      finished_at=time.time())
        self._push(ti, record)
        self.log.warning("groupplug: %s stopped by its group: %s -> %s", self.member,
                         decision.reason, decision.state)
        if decision.state != "succeeded":
            raise AirflowFailException(f"stopped by group {self.group}: {decision.reason}")
