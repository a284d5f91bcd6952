"""One workflow using every OSMO task field groupplug runs, and what each engine must leave behind.

Every task is a singleton group (no barrier: ``dag.test()`` cannot run deferrals), ``read``
takes ``write`` as its input. Each task writes what it saw into its ``{{output}}``, so
:func:`check_outputs` reads the same files on every engine. Built with the dataclasses until
the YAML loader fills these fields.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from groupplug.spec import FrozenDict, Group, Task, TaskFile, Workflow

#: The workflows in OSMO's documented form; every engine runs them with the local outcome.
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "workflows" / "osmo")
                  .glob("*.yaml"))
IMAGE = "nvcr.io/nvidia/pytorch:24.01-py3"
#: Arguments a shell would expand, split or run; an argument vector passes them as written.
ARGS = ("two words", "$HOME", "x; touch pwned", "`id`", "*")
SAVE_ARGV = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(repr(sys.argv[2:]))"
SCRIPT = 'echo "ran with $1" > "$2/ran"\n'


def tasks(python: str = sys.executable) -> tuple[Task, ...]:
    return (
        Task("write", command="echo from-write > {{output}}/x", image=IMAGE),
        Task("vector", argv=(python, "-c", SAVE_ARGV), args=("{{output}}/argv", *ARGS),
             image=IMAGE),
        Task("env", command='printf %s "$GREETING" > {{output}}/greeting',
             environment=FrozenDict({"GREETING": "hi; from {{output}}"})),
        Task("files", command="sh ./osmo-script/run.sh \"$(cat settings.txt)\" {{output}}",
             files=(TaskFile("osmo-script/run.sh", SCRIPT),
                    TaskFile("settings.txt", "out={{output}}"))),
        Task("read", inputs=("write",), command="cat {{input:0}}/x > {{output}}/copy"),
    )


def workflow(name: str = "osmo_fields", python: str = sys.executable) -> Workflow:
    return Workflow(name, tuple(Group(t.name, tasks=(t,), barrier=False, implicit=True)
                                for t in tasks(python)))


def check_outputs(outputs: Path, workdir: Path) -> None:
    """What every engine's run leaves in ``outputs`` (the run's outputs/) and ``workdir``."""
    assert (outputs / "write" / "x").read_text() == "from-write\n"
    assert (outputs / "read" / "copy").read_text() == "from-write\n"
    assert ast.literal_eval((outputs / "vector" / "argv").read_text()) == list(ARGS)
    assert (outputs / "env" / "greeting").read_text() == f"hi; from {outputs / 'env'}"
    assert (outputs / "files" / "ran").read_text() == f"ran with out={outputs / 'files'}\n"
    # A task with relative files runs in a directory of its own, never where the run started.
    assert (outputs.parent / "work" / "files" / "osmo-script" / "run.sh").read_text() == SCRIPT
    assert not (workdir / "osmo-script").exists() and not (workdir / "settings.txt").exists()
    assert not (workdir / "pwned").exists()


def image_warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if f"image {IMAGE} was not used" in line]


def local_outcome(path: Path, run_dir: Path) -> dict:
    """The local engine's outcome of example ``path`` (run in the current directory), which
    must have succeeded: the examples check their own results (a wrong sum exits 1)."""
    from groupplug.loader import load_workflow
    from groupplug.runner import LocalRunner

    report = LocalRunner(load_workflow(path), log_dir=run_dir).run()
    assert report.state == "succeeded", report.to_json()
    return report.outcome()
