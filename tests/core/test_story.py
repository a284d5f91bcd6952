"""The run's story from reports alone (as on Airflow, where the CLI sees only reports) and
warnings said once per run."""

from __future__ import annotations

import logging

from groupplug.report import GroupReport, MemberReport, RunReport
from groupplug.runlog import OncePerRun
from groupplug.states import GroupState, MemberState
from groupplug.story import Storyteller, story_lines
from tests.core.readme import TRAINING_STORY, story_kinds

S, R = MemberState.SUCCEEDED, MemberState.RUNNING


def training_report(final: bool) -> RunReport:
    report = RunReport("train-job", "airflow")
    done = dict(setup_finished_at=1.0, started_at=2.0, finished_at=3.0, attempts=1)
    report.groups["prepare"] = GroupReport(GroupState.SUCCEEDED, "download",
                                           {"download": MemberReport(S, **done)})
    workers = {f"worker-{i}": MemberReport(S, "lead finished", **done) if final
               else MemberReport(R, setup_finished_at=1.0) for i in (1, 2)}
    report.groups["train"] = GroupReport(
        GroupState.SUCCEEDED if final else GroupState.RUNNING, "master",
        {"master": MemberReport(S if final else R, **done), **workers})
    report.groups["evaluate"] = GroupReport(
        GroupState.SUCCEEDED if final else GroupState.PENDING, "score",
        {"score": MemberReport(S, **done) if final else MemberReport()})
    return report


def test_a_live_report_then_the_final_one_tell_each_step_once(caplog):
    teller = Storyteller(barriers={"train"})
    with caplog.at_level(logging.INFO, logger="groupplug.story"):
        teller.see(training_report(final=False))
        teller.see(training_report(final=False))
        teller.see(training_report(final=True))
    told = [r.getMessage() for r in caplog.records]
    assert sorted(told) == sorted(TRAINING_STORY), told
    assert told[:2] == TRAINING_STORY[:2]  # what the live report showed came first
    assert story_kinds(told) == {"barrier released", "stopped", "group finished"}


def test_without_a_spec_a_barrier_shows_as_setups_that_all_finished():
    with_setups = dict(story_lines(training_report(final=True)))
    assert with_setups[("barrier released", "train")].endswith("master, worker-1, worker-2")
    report = training_report(final=True)
    report.groups["train"].members["master"].setup_finished_at = None
    assert ("barrier released", "train") not in dict(story_lines(report))


def test_a_failure_is_told_before_the_stops_it_caused():
    report = RunReport("w", "local")
    report.groups["g"] = GroupReport(GroupState.FAILED, "lead", {
        "lead": MemberReport(MemberState.FAILED, "task boom failed", attempts=1),
        "boom": MemberReport(MemberState.FAILED, "command failed (exit 3)", attempts=2)})
    assert [line for _, line in story_lines(report, barriers=())] == [
        "g.boom: attempt 2", "g.boom failed: command failed (exit 3)",
        "g.lead stopped as failed: task boom failed", "group g finished: failed"]


def test_each_warning_once_per_run_whatever_it_names():
    once = OncePerRun()

    def record(msg: str, *args: object, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("groupplug.prefect.directives", level, __file__, 1, msg,
                                 args, None)

    template = "%s: directives %s have no Prefect task option"
    assert once.filter(record(template, "train.master", "ngpu"))
    assert not once.filter(record(template, "train.worker-1", "ngpu"))
    timeout = "Timeout of 7200.0 seconds configured for this task, but ... worker thread"
    assert once.filter(record(timeout)) and not once.filter(record(timeout))
    assert once.filter(record("info lines pass", level=logging.INFO))
    assert once.filter(record("info lines pass", level=logging.INFO))
