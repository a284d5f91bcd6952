"""The README's `--engine airflow` commands run as written, on a terminal: exit 0, the live tree
redrawn in place and left once, the story of `-v` line for line the local engine's, the
engine's own log lines in the log file the run names, not on the screen, `--json` one object."""

from __future__ import annotations

import pytest

from tests.core.readme import check_readme_command, engine_of, runnable_commands

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("command", [c for c in runnable_commands() if engine_of(c) == "airflow"])
def test_readme_command_runs_as_written(command):
    check_readme_command(command)
