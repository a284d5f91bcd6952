"""The README's `--engine prefect` commands run as written, on a terminal: exit 0, the live tree
redrawn in place and left once, the story of `-v` line for line the local engine's, the
engine's own log lines in the log file the run names, not on the screen, `--json` one object."""

from tests.core.readme import readme_test

test_readme_command_runs_as_written = readme_test("prefect")
