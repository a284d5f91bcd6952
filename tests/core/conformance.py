"""The conformance table: one scenario per rule of DESIGN sections 3 and 4.

Each scenario is a YAML workflow whose members are shell commands (so every engine can run it),
plus the member and group states, reasons, attempt counts and barrier orderings every engine must
produce. The local engine runs them in ``test_conformance_local.py``; each adapter runs the same
table through its own engine and asserts ``scenario.check(report) == []``.

Keys of ``members``/``reasons``/``attempts`` are ``"<group path>:<task>"``. ``{tmp}`` in the YAML is
replaced by a per-run scratch directory (marker files make "fail once, then succeed" members).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field, replace

from groupplug.report import RunReport
from groupplug.spec import Group, Workflow

#: Commands that must be stopped by their group: long enough that finishing on their own is a bug.
LONG = "sleep 600"


def fail_once(marker: str, then: str = "true", delay: float = 0) -> str:
    """A command that fails on its first attempt and runs ``then`` on the next ones."""
    first = f"sleep {delay}; exit 1" if delay else "exit 1"
    return f"if [ -f {{tmp}}/{marker} ]; then {then}; else touch {{tmp}}/{marker}; {first}; fi"


@dataclass(frozen=True)
class Scenario:
    id: str
    rule: str  # the DESIGN row or rule it proves
    yaml: str
    state: str  # the workflow's state
    groups: dict[str, str]
    members: dict[str, str]
    #: A substring expected in the member's reason, or a pattern it must contain.
    reasons: dict[str, str | re.Pattern[str]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    barrier: tuple[str, ...] = ()  # groups whose main work all starts after the last setup ended
    no_barrier: tuple[str, ...] = ()  # groups where a member starts before another's setup ended
    #: ``(before, after)`` member keys: ``after`` started its main work once ``before`` finished
    #: (what task inputs promise), read from the report's timestamps, not from durations.
    order: tuple[tuple[str, str], ...] = ()
    #: ``(retrier, restarted)`` member keys: ``restarted`` began its last attempt together with
    #: ``retrier``'s new try, at the re-formed barrier (DESIGN section 3), not at once.
    reform: tuple[tuple[str, str], ...] = ()

    def spec_yaml(self, tmp_dir: str) -> str:
        return textwrap.dedent(self.yaml).replace("{tmp}", str(tmp_dir))

    def check(self, report: RunReport) -> list[str]:
        """Every difference between ``report`` and this scenario's expectations."""
        problems: list[str] = []
        if report.state != self.state:
            problems.append(f"workflow state {report.state!r}, expected {self.state!r}")
        for path, expected in self.groups.items():
            group = report.groups.get(path)
            got = group.state.value if group else None
            if got != expected:
                problems.append(f"group {path}: state {got!r}, expected {expected!r}")
        for key, expected in self.members.items():
            member = _member(report, key)
            got = member.state.value if member else None
            if got != expected:
                problems.append(f"member {key}: state {got!r}, expected {expected!r}")
        for key, fragment in self.reasons.items():
            member = _member(report, key)
            found = member is not None and (
                fragment.search(member.reason) if isinstance(fragment, re.Pattern)
                else fragment in member.reason)
            if not found:
                got = member.reason if member else None
                shown = fragment.pattern if isinstance(fragment, re.Pattern) else fragment
                problems.append(f"member {key}: reason {got!r} lacks {shown!r}")
        for key, expected in self.attempts.items():
            member = _member(report, key)
            got = member.attempts if member else None
            if got != expected:
                problems.append(f"member {key}: {got} attempts, expected {expected}")
        return problems + self._check_timing(report)

    def _check_timing(self, report: RunReport) -> list[str]:
        """Barriers and input order, from the report's timestamps."""
        problems: list[str] = []
        for path in self.barrier:
            problems.extend(_check_barrier(report, path, together=True))
        for path in self.no_barrier:
            problems.extend(_check_barrier(report, path, together=False))
        for before, after in self.order:
            problems.extend(_check_order(report, before, after))
        for retrier, restarted in self.reform:
            problems.extend(_check_reform(report, retrier, restarted))
        return problems


def _member(report: RunReport, key: str):
    path, _, task = key.rpartition(":")
    group = report.groups.get(path)
    return group.members.get(task) if group else None


# Delays in these scenarios leave room for engines that start members a few seconds apart under
# load (Airflow's scheduler on 2 cores): a retry must come after every peer has started.

#: Clock tolerance between processes on one machine, in seconds.
CLOCK_SLACK = 0.05


def _check_order(report: RunReport, before: str, after: str) -> list[str]:
    first, then = _member(report, before), _member(report, after)
    ended = first.finished_at if first else None
    began = then.started_at if then else None
    if ended is None or began is None:
        return [f"order {before} -> {after}: missing finished_at/started_at"]
    if began + CLOCK_SLACK < ended:
        return [f"member {after} started {ended - began:.3f}s before its input {before} finished"]
    return []


#: The retrying member's ``retryDelay`` in the re-form scenarios: a member restarted at once
#: (no re-formed barrier) begins at least this long before the retrier's new try.
REFORM_DELAY = 6
#: How much earlier than the retrier's new try a restarted member may begin: the retrier's own
#: read of the re-formed barrier (one poll, seconds under load) comes between its arrival and its
#: start; half the retry delay keeps a barrier that did not re-form (a gap of 6 s+) failing.
REFORM_SLACK = REFORM_DELAY / 2


def _check_reform(report: RunReport, retrier: str, restarted: str) -> list[str]:
    first, then = _member(report, retrier), _member(report, restarted)
    began, other = (first.started_at if first else None), (then.started_at if then else None)
    if began is None or other is None:
        return [f"re-form {retrier} -> {restarted}: missing started_at"]
    if other + REFORM_SLACK < began:
        return [f"member {restarted} began its last attempt {began - other:.3f}s before "
                f"{retrier}'s new try (the barrier did not re-form after the restart)"]
    return []


def _check_barrier(report: RunReport, path: str, *, together: bool) -> list[str]:
    group = report.groups.get(path)
    if group is None:
        return [f"group {path} missing from the report"]
    setups = [m.setup_finished_at for m in group.members.values()]
    starts = [m.started_at for m in group.members.values()]
    if None in setups or None in starts:
        return [f"group {path}: missing setup_finished_at/started_at: {setups} {starts}"]
    last_setup, first_start = max(setups), min(starts)  # type: ignore[type-var]
    if together and first_start + CLOCK_SLACK < last_setup:
        return [f"group {path}: main work began {last_setup - first_start:.3f}s before the "
                "last member finished its setup (the barrier did not hold)"]
    if not together and first_start >= last_setup:
        return [f"group {path}: no member started before the last setup ended (it waited)"]
    return []


def _wf(body: str) -> str:
    return "workflow:\n  name: conformance\n  groups:\n" + textwrap.indent(
        textwrap.dedent(body).strip("\n"), "  "
    ) + "\n"


SCENARIOS: list[Scenario] = [
    Scenario(
        id="lead-succeeds-stops-others",
        rule="3: lead finishes (succeeded): unfinished non-leads take its state, 'lead finished'",
        yaml=_wf(f"""
            - name: train
              tasks:
              - {{name: lead, lead: true, command: "sleep 2"}}
              - {{name: worker, command: "{LONG}"}}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        reasons={"train:worker": "lead finished"},
    ),
    Scenario(
        id="lead-fails-stops-others",
        rule="3: lead finishes (failed): unfinished non-leads fail with 'lead finished'",
        yaml=_wf(f"""
            - name: train
              tasks:
              - {{name: lead, lead: true, command: "sleep 2; exit 3"}}
              - {{name: worker, command: "{LONG}"}}
            """),
        state="failed",
        groups={"train": "failed"},
        members={"train:lead": "failed", "train:worker": "failed"},
        reasons={"train:worker": "lead finished"},
    ),
    Scenario(
        id="lead-finishes-strict",
        rule="3: lead finishes with ignore_nonlead_status=false: same as true",
        yaml=_wf(f"""
            - name: train
              ignoreNonleadStatus: false
              tasks:
              - {{name: lead, lead: true, command: "sleep 2"}}
              - {{name: worker, command: "{LONG}"}}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        reasons={"train:worker": "lead finished"},
    ),
    Scenario(
        id="nonlead-fails-ignored",
        rule="3: non-lead fails, ignore_nonlead_status=true: group unaffected",
        yaml=_wf("""
            - name: train
              tasks:
              - {name: lead, lead: true, command: "sleep 3"}
              - {name: worker, command: "exit 1"}
              - {name: other, command: "sleep 1"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "failed", "train:other": "succeeded"},
    ),
    Scenario(
        id="nonlead-fails-strict",
        rule="3: non-lead fails, ignore_nonlead_status=false: all stopped as failed, group failed",
        yaml=_wf(f"""
            - name: train
              ignoreNonleadStatus: false
              tasks:
              - {{name: lead, lead: true, command: "{LONG}"}}
              - {{name: worker, command: "sleep 2; exit 1"}}
              - {{name: other, command: "{LONG}"}}
            """),
        state="failed",
        groups={"train": "failed"},
        members={"train:lead": "failed", "train:worker": "failed", "train:other": "failed"},
        reasons={"train:lead": "task worker failed", "train:other": "task worker failed"},
    ),
    Scenario(
        id="nonlead-succeeds",
        rule="3: non-lead succeeds: nothing happens",
        yaml=_wf("""
            - name: train
              ignoreNonleadStatus: false
              tasks:
              - {name: lead, lead: true, command: "sleep 2"}
              - {name: worker, command: "true"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        reasons={"train:worker": ""},
    ),
    Scenario(
        id="lead-retry-restarts-others",
        rule="3: lead retries: other unfinished members restart after the barrier re-forms",
        yaml=_wf(f"""
            - name: train
              tasks:
              - name: lead
                lead: true
                retries: 1
                retryDelay: {REFORM_DELAY}
                command: "{fail_once('lead', then='sleep 2', delay=5)}"
              - {{name: worker, command: "{LONG}"}}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        attempts={"train:lead": 2, "train:worker": 2},
        barrier=("train",),
        reform=(("train:lead", "train:worker"),),
    ),
    Scenario(
        id="nonlead-retry-alone",
        rule="3: non-lead retries, ignore_nonlead_status=true: only that member retries",
        yaml=_wf(f"""
            - name: train
              tasks:
              - {{name: lead, lead: true, command: "sleep 8"}}
              - name: worker
                retries: 1
                command: "{fail_once('worker', then=LONG, delay=4)}"
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        attempts={"train:lead": 1, "train:worker": 2},
    ),
    Scenario(
        id="nonlead-retry-strict-restarts-others",
        rule="3: non-lead retries, ignore_nonlead_status=false: every other member restarts",
        yaml=_wf(f"""
            - name: train
              ignoreNonleadStatus: false
              tasks:
              - {{name: lead, lead: true, command: "sleep 8"}}
              - name: worker
                retries: 1
                retryDelay: {REFORM_DELAY}
                command: "{fail_once('worker', then=LONG, delay=4)}"
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:worker": "succeeded"},
        attempts={"train:lead": 2, "train:worker": 2},
        reform=(("train:worker", "train:lead"),),
    ),
    Scenario(
        id="failed-group-fails-downstream",
        rule="3: a group finishing failed makes downstream groups upstream_failed; never started",
        yaml=_wf("""
            - name: train
              tasks:
              - {name: lead, lead: true, command: "exit 1"}
            - name: evaluate
              upstream: [train]
              tasks:
              - {name: score, lead: true, command: "true"}
              - {name: report, command: "true"}
            - name: publish
              upstream: [evaluate]
              tasks:
              - {name: push, command: "true"}
            """),
        state="failed",
        groups={"train": "failed", "evaluate": "upstream_failed", "publish": "upstream_failed"},
        members={
            "evaluate:score": "upstream_failed",
            "evaluate:report": "upstream_failed",
            "publish:push": "upstream_failed",
        },
    ),
    Scenario(
        id="barrier-releases-together",
        rule="4: members run setup, arrive, and all start main work when the last arrives",
        yaml=_wf("""
            - name: train
              tasks:
              - {name: lead, lead: true, setup: "sleep 0", command: "sleep 1"}
              - {name: w1, setup: "sleep 1", command: "sleep 1"}
              - {name: w2, setup: "sleep 2", command: "sleep 1"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:w1": "succeeded", "train:w2": "succeeded"},
        barrier=("train",),
    ),
    Scenario(
        id="no-barrier-starts-at-once",
        rule="4: barrier: false: a member starts as soon as its own setup is done",
        yaml=_wf("""
            - name: train
              barrier: false
              tasks:
              - {name: lead, lead: true, setup: "sleep 8", command: "sleep 1"}
              - {name: w1, setup: "sleep 0", command: "sleep 1"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:w1": "succeeded"},
        no_barrier=("train",),
    ),
    Scenario(
        id="setup-failure-leaves-count",
        rule="4: a member failing before it arrives leaves the count; the others are released",
        yaml=_wf("""
            - name: train
              tasks:
              - {name: lead, lead: true, setup: "sleep 1", command: "sleep 1"}
              - {name: w1, setup: "sleep 2", command: "sleep 1"}
              - {name: broken, setup: "exit 4", command: "true"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:w1": "succeeded", "train:broken": "failed"},
        reasons={"train:broken": "setup"},
    ),
    Scenario(
        id="lead-setup-failure-ends-barrier",
        rule="4: the lead finishing (here: failing in setup) deletes the barrier; waiters stop",
        yaml=_wf("""
            - name: train
              tasks:
              - {name: lead, lead: true, setup: "sleep 2; exit 1", command: "true"}
              - {name: w1, setup: "true", command: "true"}
            """),
        state="failed",
        groups={"train": "failed"},
        members={"train:lead": "failed", "train:w1": "failed"},
        reasons={"train:w1": "lead finished"},
    ),
    Scenario(
        id="barrier-timeout-names-missing",
        rule="4: barrier_timeout: waiting members fail naming the members that never arrived",
        yaml=_wf(f"""
            - name: train
              barrierTimeout: 3
              tasks:
              - {{name: lead, lead: true, command: "true"}}
              - {{name: w1, command: "true"}}
              - {{name: slow, setup: "{LONG}", command: "true"}}
            """),
        state="failed",
        groups={"train": "failed"},
        members={"train:lead": "failed", "train:w1": "failed", "train:slow": "failed"},
        reasons={
            # A lead or w1 that a loaded machine starts more than 3 s after the other is rightly
            # named too (seen on the Celery stack); ``slow`` must be named, nobody else may be.
            "train:lead": re.compile(r"not arrived: (lead, )?slow(, w1)?$"),
            # w1 times out naming slow; a w1 that arrived after the deadline (started more than
            # 3 s after the lead, seen on Dask worker processes under load) is instead stopped
            # by its lead's timeout, which named it.
            "train:w1": re.compile(r'BarrierTimeout: group "train" waited 3s; not arrived: '
                                   r"(lead, )?slow$|^lead finished$"),
            "train:slow": "lead finished",
        },
    ),
    Scenario(
        id="nested-rollup",
        rule="3: a nested parent is failed if any child failed, else succeeded when all did",
        yaml=_wf("""
            - name: pipeline
              groups:
              - name: prep
                tasks:
                - {name: clean, command: "true"}
              - name: experiments
                upstream: [prep]
                groups:
                - name: tuning
                  tasks:
                  - {name: tune, command: "exit 1"}
                - name: baseline
                  tasks:
                  - {name: base, command: "true"}
            - name: docs
              tasks:
              - {name: write, command: "true"}
            """),
        state="failed",
        groups={
            "pipeline": "failed",
            "pipeline.prep": "succeeded",
            "pipeline.experiments": "failed",
            "pipeline.experiments.tuning": "failed",
            "pipeline.experiments.baseline": "succeeded",
            "docs": "succeeded",
        },
        members={
            "pipeline.prep:clean": "succeeded",
            "pipeline.experiments.tuning:tune": "failed",
            "pipeline.experiments.baseline:base": "succeeded",
        },
    ),
]

BARRIER_SCENARIOS = [s for s in SCENARIOS if s.rule.startswith("4")]


# -- the same table with Python members --------------------------------------------------------
#
# Every command in the table is one of a few shell shapes (``sleep N``, ``exit N``, ``true``, and
# ``fail_once``'s marker test). ``python_source`` writes the same behaviour as a Python function
# body, so each engine can run the table with Python members too (the local engine's ``fn=``, an
# Airflow ``@task``, a Prefect ``@task``): a failing exit becomes a raised exception.

_FAIL_ONCE = re.compile(r"^if \[ -f (?P<m>\S+) \]; then (?P<then>.+); else touch (?P=m); "
                        r"(?P<first>.+); fi$")
#: The under-load variants' wait for marker files: ``for i in $(seq N); do [ -e A ] && ... &&
#: [sleep S &&] exit 0; sleep 0.2; done; exit 1``.
_WAIT_FOR = re.compile(r"^for i in \$\(seq (?P<n>\d+)\); do (?P<tests>(?:\[ -e \S+ \] && )+)"
                       r"(?:sleep (?P<then>[\d.]+) && )?exit 0; sleep 0\.2; done; exit 1$")


def python_source(command: str, indent: str = "") -> list[str]:
    """Python statements that behave as ``command`` (one of the table's shell shapes)."""
    found = _FAIL_ONCE.match(command.strip())
    if found:
        marker = found["m"]
        return [f"{indent}if os.path.exists({marker!r}):",
                *python_source(found["then"], indent + "    "),
                f"{indent}else:",
                f"{indent}    open({marker!r}, 'w').close()",
                *python_source(found["first"], indent + "    ")]
    waits = _WAIT_FOR.match(command.strip())
    if waits:
        paths = re.findall(r"\[ -e (\S+) \]", waits["tests"])
        return [f"{indent}for _ in range({int(waits['n'])}):",
                f"{indent}    if all(os.path.exists(p) for p in {paths!r}):",
                f"{indent}        time.sleep({float(waits['then'] or 0)!r})",
                f"{indent}        break",
                f"{indent}    time.sleep(0.2)",
                f"{indent}else:",
                f"{indent}    raise RuntimeError('exit 1')"]
    lines = []
    for step in (s.strip() for s in command.split(";")):
        word, _, arg = step.partition(" ")
        if word == "sleep":
            lines.append(f"{indent}time.sleep({float(arg)!r})")
        elif word == "touch":
            lines.append(f"{indent}open({arg!r}, 'w').close()")
        elif word == "exit" and int(arg or 0) != 0:
            lines.append(f"{indent}raise RuntimeError('exit {int(arg)}')")
        elif word in ("true", "exit", ""):
            lines.append(f"{indent}pass")
        else:
            raise ValueError(f"no Python form for {step!r} (in {command!r})")
    return lines


class PythonStep:
    """A picklable callable running :func:`python_source` of a command (local ``fn=``)."""

    def __init__(self, command: str):
        self.command = command
        self.__qualname__ = f"PythonStep({command!r})"

    def __call__(self) -> str:
        body = "\n".join(python_source(self.command, "    ") or ["    pass"])
        namespace: dict[str, object] = {}
        exec(f"import os, time\ndef step():\n{body}\n", namespace)  # noqa: S102 - test helper
        namespace["step"]()  # type: ignore[operator]
        return self.command


def with_python_members(workflow: Workflow) -> Workflow:
    """``workflow`` with every command and setup run as a Python callable instead."""

    def convert(group: Group) -> Group:
        tasks = tuple(replace(t, command=None, setup=None,
                              fn=PythonStep(t.command) if t.command else None,
                              setup_fn=PythonStep(t.setup) if t.setup else None)
                      for t in group.tasks)
        return replace(group, tasks=tasks, children=tuple(convert(c) for c in group.children))

    return replace(workflow, groups=tuple(convert(g) for g in workflow.groups))

# Appended for issue 8: the barrier timeout counts from the first arrival on every engine.
SCENARIOS.append(
    Scenario(
        id="barrier-timeout-from-first-arrival",
        rule="4: barrier_timeout counts from the first arrival, not from when the barrier began",
        # Counted from the barrier's start it would expire at 10 s, before anyone arrived (12 s),
        # and fail the group; counted from the first arrival (12 s) it expires at 22 s, after
        # the last member arrived (16 s), so the barrier releases and everyone succeeds.
        yaml=_wf("""
            - name: train
              barrierTimeout: 10
              tasks:
              - {name: lead, lead: true, setup: "sleep 12", command: "sleep 1"}
              - {name: w1, setup: "sleep 12", command: "sleep 1"}
              - {name: w2, setup: "sleep 16", command: "sleep 1"}
            """),
        state="succeeded",
        groups={"train": "succeeded"},
        members={"train:lead": "succeeded", "train:w1": "succeeded", "train:w2": "succeeded"},
        barrier=("train",),
    )
)
BARRIER_SCENARIOS = [s for s in SCENARIOS if s.rule.startswith("4")]


# -- task inputs, in both spellings --------------------------------------------------------------
#
# The table above orders groups through ``upstream:``; these scenarios order them through task
# ``inputs:`` (plain names), and every scenario that uses inputs has a variant in OSMO's form,
# ``inputs: [{task: NAME}]`` (ids ending in ``-osmo``). Engines whose YAML path reads task inputs
# run ``INPUT_SCENARIOS + OSMO_SCENARIOS``; the Python-member variants of the table do not carry
# task inputs, so these stay out of ``SCENARIOS``.

INPUT_SCENARIOS: list[Scenario] = [
    Scenario(
        id="inputs-order-groups",
        rule="2: a task's inputs order its group after the groups of the tasks it needs",
        yaml=_wf("""
            - name: prep
              tasks:
              - {name: make, command: "sleep 1"}
            - name: train
              tasks:
              - {name: lead, lead: true, command: "sleep 1", inputs: [make]}
              - {name: other, command: "true"}
            """),
        state="succeeded",
        groups={"prep": "succeeded", "train": "succeeded"},
        members={"prep:make": "succeeded", "train:lead": "succeeded",
                 "train:other": "succeeded"},
        order=(("prep:make", "train:lead"), ("prep:make", "train:other")),
    ),
    Scenario(
        id="inputs-failed-upstream",
        rule="3: a failed input's group makes the needing group upstream_failed; never started",
        yaml=_wf("""
            - name: prep
              tasks:
              - {name: make, command: "exit 1"}
            - name: train
              tasks:
              - {name: use, command: "true", inputs: [make]}
            """),
        state="failed",
        groups={"prep": "failed", "train": "upstream_failed"},
        members={"prep:make": "failed", "train:use": "upstream_failed"},
    ),
]

_INPUTS = re.compile(r"inputs: \[([^\]]*)\]")


def osmo_inputs(yaml_text: str) -> str:
    """``yaml_text`` with every ``inputs: [a, b]`` written OSMO's way, ``[{task: a}, ...]``."""

    def rewrite(match: re.Match[str]) -> str:
        names = [n.strip() for n in match.group(1).split(",") if n.strip()]
        return "inputs: [" + ", ".join(f"{{task: {n}}}" for n in names) + "]"

    return _INPUTS.sub(rewrite, yaml_text)


def osmo_variant(scenario: Scenario) -> Scenario:
    """The same scenario with its task inputs in OSMO's form (id suffixed ``-osmo``)."""
    return replace(scenario, id=f"{scenario.id}-osmo", yaml=osmo_inputs(scenario.yaml),
                   rule=f"{scenario.rule} (OSMO's inputs: [{{task: NAME}}])")


OSMO_SCENARIOS = [osmo_variant(s) for s in SCENARIOS + INPUT_SCENARIOS if "inputs:" in s.yaml]

def _under_load(scenario_id: str, yaml: str) -> Scenario:
    """Scenario ``scenario_id`` with the same expectations and a workflow a loaded cluster runs
    without racing its task-start lag."""
    return replace(next(s for s in SCENARIOS if s.id == scenario_id), yaml=yaml)


def wait_for(*paths: str, then: str = "") -> str:
    """A command that ends once every file in ``paths`` exists (``then`` runs before it ends,
    e.g. ``"sleep 1"``), or fails after 120 s: the shape :data:`_WAIT_FOR` reads back."""
    tests = "".join(f"[ -e {p} ] && " for p in paths)
    then = f"{then} && " if then else ""
    return f"for i in $(seq 600); do {tests}{then}exit 0; sleep 0.2; done; exit 1"


#: barrier-releases-together as a loaded cluster can run it. There the lead's 1 s of main work can
#: end before a busy worker has even started its peers' task processes, which then rightly never
#: start (a finished group starts nobody), leaving no start time to compare. Here the lead ends
#: only once both peers' main work has begun (or fails after 120 s), so the barrier is still what
#: is measured and no timing decides the result.
_PEERS_STARTED = wait_for("{tmp}/w1.started", "{tmp}/w2.started")
BARRIER_UNDER_LOAD = _under_load("barrier-releases-together",
    _wf(f"""
        - name: train
          tasks:
          - {{name: lead, lead: true, setup: "sleep 0", command: "{_PEERS_STARTED}"}}
          - {{name: w1, setup: "sleep 1", command: "touch {{tmp}}/w1.started; sleep 1"}}
          - {{name: w2, setup: "sleep 2", command: "touch {{tmp}}/w2.started; sleep 1"}}
        """),
)


#: no-barrier-starts-at-once as a loaded cluster can run it: the lead's setup (8 s) ends only
#: once w1's main work has begun (or fails after 120 s), so w1 starting before the lead's setup
#: ended is what a missing barrier allows, not a race against how fast a busy worker starts w1's
#: two task processes (the Python variant on the Celery stack lost that race once).
_W1_STARTED = wait_for("{tmp}/w1.started")
NO_BARRIER_UNDER_LOAD = _under_load("no-barrier-starts-at-once",
    _wf(f"""
        - name: train
          barrier: false
          tasks:
          - {{name: lead, lead: true, setup: "{_W1_STARTED}", command: "sleep 1"}}
          - {{name: w1, setup: "sleep 0", command: "touch {{tmp}}/w1.started; sleep 1"}}
        """),
)


#: barrier-timeout-from-first-arrival with room for setups that start seconds apart on busy
#: workers (the stack once started w2's setup more than 6 s after the lead's): the last arrival
#: comes 6 s after the first, and the timeout (20 s from the first) leaves 14 s, not 4 s; from
#: the barrier's start it would still expire before anyone arrived (24 s). The lead ends only
#: once both peers' main work has begun: on the stack a busy worker once started w2's main work
#: after the lead's 1 s had ended, so w2 rightly never started and left no start time to check.
TIMEOUT_UNDER_LOAD = _under_load("barrier-timeout-from-first-arrival",
    _wf(f"""
        - name: train
          barrierTimeout: 20
          tasks:
          - {{name: lead, lead: true, setup: "sleep 24", command: "{_PEERS_STARTED}"}}
          - {{name: w1, setup: "sleep 24", command: "touch {{tmp}}/w1.started; sleep 1"}}
          - {{name: w2, setup: "sleep 30", command: "touch {{tmp}}/w2.started; sleep 1"}}
        """),
)


#: nonlead-fails-ignored where a busy worker starts the failing member late: the lead (3 s) once
#: ended first on the stack, so the worker never ran and was stopped ("lead finished"). Here the
#: lead ends only once the worker's command has run, so its own failure is what is measured.
_WORKER_RAN = wait_for("{tmp}/worker.ran", then="sleep 1")
NONLEAD_FAILS_UNDER_LOAD = _under_load("nonlead-fails-ignored",
    _wf(f"""
        - name: train
          tasks:
          - {{name: lead, lead: true, command: "{_WORKER_RAN}"}}
          - {{name: worker, command: "touch {{tmp}}/worker.ran; exit 1"}}
          - {{name: other, command: "sleep 1"}}
        """),
)


def under_load(scenarios: list[Scenario]) -> list[Scenario]:
    """``scenarios`` with the timing-sensitive barrier scenarios replaced by their variants
    for loaded clusters (the ``*_UNDER_LOAD`` scenarios above)."""
    variants = {v.id: v for v in (BARRIER_UNDER_LOAD, NO_BARRIER_UNDER_LOAD, TIMEOUT_UNDER_LOAD,
                                  NONLEAD_FAILS_UNDER_LOAD)}
    return [variants.get(s.id, s) for s in scenarios]


#: The Python-member table as a loaded cluster runs it: the same variants as the shell table
#: (their marker-file waits and touches have Python forms in :func:`python_source`).
PYTHON_UNDER_LOAD = under_load(SCENARIOS)
