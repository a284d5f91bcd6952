"""The README's runnable commands, and how a user's terminal shows one of them.

A shell block the README marks with ``<!-- runnable ... -->`` on the line before it holds
commands that must run as written from the root of a clone. Each suite runs the ones for its
environment: ``--engine airflow`` in the Airflow suite, ``--engine prefect`` in Prefect's, the
rest in the core suite, each with its environment's ``bin`` first on ``PATH`` (as the README
says to activate it).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from tests.core.terminal import TerminalRun, run_on_terminal

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: Commands that are not run here, and why.
TOO_LONG = {
    "scripts/demo": "scripts/demo takes ~5 min: three engines end to end",
    "scripts/test": "scripts/test is the whole CI (~42 min); this test runs inside it",
    "python3 benchmarks/run.py": "the benchmarks take ~8 min (--quick) and measure, not check",
}
#: A story line on the terminal: ``HH:MM:SS <line>`` (groupplug.runlog).
STORY = re.compile(r"^\d\d:\d\d:\d\d (?P<line>.*)$")
#: The top line of a run's tree: ``train-job [local] succeeded``.
TREE_TOP = re.compile(r"^\S+ \[(local|airflow|prefect)\] (?P<state>\w+)$")


def runnable_commands() -> list[str]:
    """Every command of the README's runnable blocks, in order (comments dropped)."""
    commands: list[str] = []
    lines = README.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("<!-- runnable") or not lines[i + 1].startswith("```"):
            continue
        for text in lines[i + 2:]:
            if text.startswith("```"):
                break
            command = text.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def engine_of(command: str) -> str:
    """The suite a command belongs to: ``airflow``, ``prefect`` or ``core``."""
    match = re.search(r"--engine (\w+)", command)
    return match.group(1) if match and match.group(1) != "local" else "core"


def too_long(command: str) -> str | None:
    return next((why for start, why in TOO_LONG.items() if command.startswith(start)), None)


def run_as_written(command: str, *, timeout: float = 900) -> TerminalRun:
    """``command`` through ``sh -c`` on a terminal, from the clone's root, with this suite's
    environment activated (its ``bin`` first on ``PATH``); stdout on a pipe of its own when
    the command asks for ``--json``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for leaked in ("PREFECT_API_URL", "GROUPPLUG_PREFECT_API_URL", "AIRFLOW_HOME"):
        env.pop(leaked, None)  # a test session's own servers are not the user's
    return run_on_terminal(["sh", "-c", command], cwd=str(ROOT), env=env, timeout=timeout,
                           stdout_pipe="--json" in command)


def check_run(command: str, run: TerminalRun) -> list[str]:
    """What every ``groupplug run`` must show a user; returns the story lines."""
    screen = run.screen
    shown = "\n".join(screen)
    assert run.returncode == 0, f"{command}: exit {run.returncode}\n{shown[-4000:]}"
    if "--json" in command:
        report = json.loads(run.stdout)  # exactly one object, nothing else on stdout
        assert isinstance(report, dict) and report["state"] == "succeeded", run.stdout[:500]
    tops = [m.group("state") for line in screen if (m := TREE_TOP.match(line))]
    assert len(tops) <= 1, f"{command}: stale copies of the tree stay on the screen:\n{shown}"
    assert "running" not in tops, f"{command}: a live tree was left behind:\n{shown}"
    logs = [line for line in screen if line.startswith("groupplug: engine logs: ")]
    assert len(logs) == 1, f"{command}: the engine log is not named once:\n{shown}"
    log_file = Path(logs[0].split(": ", 2)[2])
    # Each warning once per run, on the screen and in the file, even when each member would
    # name itself in it ("train.master: directives ...", "train.worker-1: directives ...").
    warnings = [_gist(line) for line in screen if line.startswith("groupplug: warning:")]
    warnings += [_gist(line.split(" WARNING ", 1)[1])
                 for line in log_file.read_text().splitlines() if " WARNING " in line]
    assert len(warnings) == len(set(warnings)), f"a warning said twice:\n{shown}\n{warnings}"
    for noise in (" prefect.", " airflow.", "HTTP Request", "Beginning flow run"):
        assert noise not in shown, f"{command}: engine log lines on the terminal:\n{shown}"
    return [m.group("line") for line in screen if (m := STORY.match(line))]


def _gist(warning: str) -> str:
    """A warning without who it names first: ``groupplug: warning: g.m: text`` -> ``text``."""
    text = warning.removeprefix("groupplug: warning: ")
    return re.sub(r"^[\w.\[\]-]+: ", "", text)


def story_kinds(lines: list[str]) -> set[str]:
    """Which kinds of step a story tells (``groupplug.story.KINDS``)."""
    kinds = set()
    for line in lines:
        if " barrier released for " in line:
            kinds.add("barrier released")
        elif " stopped as " in line:
            kinds.add("stopped")
        elif re.search(r"^group \S+ finished: ", line):
            kinds.add("group finished")
        elif re.search(r": attempt \d+$", line):
            kinds.add("retrying")
        elif " failed: " in line:
            kinds.add("failed")
        else:
            kinds.add(f"unknown: {line}")
    return kinds


#: What ``groupplug -v run examples/workflows/training.yaml`` tells on every engine.
TRAINING_STORY = [
    "group prepare finished: succeeded",
    "group train: barrier released for master, worker-1, worker-2",
    "train.worker-1 stopped as succeeded: lead finished",
    "train.worker-2 stopped as succeeded: lead finished",
    "group train finished: succeeded",
    "group evaluate finished: succeeded",
]


#: The tree it leaves on every engine: each member's state and reason, as the local engine's
#: (``{engine}`` is the engine's name). The engine suites' check that a CLI run ends with the
#: local engine's outcome.
TRAINING_TREE = """\
train-job [{engine}] succeeded
├── prepare  succeeded  {{succeeded: 1}}
│   └── download  succeeded
├── train  succeeded  lead=master  barrier timeout=120s  {{succeeded: 3}}
│   ├── master (lead)  succeeded
│   ├── worker-1  succeeded  (lead finished)
│   └── worker-2  succeeded  (lead finished)
└── evaluate  succeeded  {{succeeded: 1}}
    └── score  succeeded""".splitlines()


def final_tree(screen: list[str]) -> list[str]:
    """The tree a run left on the screen: from its top line to the line before the next
    ``groupplug:`` line (trailing blanks dropped)."""
    top = next(i for i, line in enumerate(screen) if TREE_TOP.match(line))
    tree = []
    for line in screen[top:]:
        if line.startswith("groupplug:"):
            break
        tree.append(line.rstrip())
    while tree and not tree[-1]:
        tree.pop()
    return tree


def check_readme_command(command: str) -> None:
    """Run one README command as written and check what the user sees."""
    run = run_as_written(command)
    if " run " not in f" {command} ":
        assert run.returncode == 0, f"{command}: exit {run.returncode}\n{run.raw[-3000:]}"
        return
    story = check_run(command, run)
    if "-v" in command.split() and "examples/workflows/training.yaml" in command:
        # The same lines, each once, on every engine (the order of lines told from the final
        # report can differ where live updates come once a second, as on Airflow).
        assert sorted(story) == sorted(TRAINING_STORY), story
        assert run.cursor_ups > 0, "the live tree was never redrawn in place"
        expected = [line.format(engine=engine_of(command).replace("core", "local"))
                    for line in TRAINING_TREE]
        assert final_tree(run.screen) == expected, "\n".join(run.screen)


def readme_test(engine: str):
    """The test that runs the README's commands of one suite (``core``, ``airflow``, ``prefect``),
    one parametrized case per command; an engine suite binds it to a ``test_`` name."""
    @pytest.mark.slow
    @pytest.mark.parametrize("command", [c for c in runnable_commands() if engine_of(c) == engine])
    def test_readme_command_runs_as_written(command: str) -> None:
        if (why := too_long(command)) is not None:
            pytest.skip(f"not run here: {why}")
        check_readme_command(command)

    return test_readme_command_runs_as_written

