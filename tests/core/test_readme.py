"""The README's commands run as written (the core environment's share: validate, show and the
local engine; the engine suites run theirs through the same helpers)."""

from __future__ import annotations

from tests.core.readme import engine_of, readme_test, runnable_commands, too_long

COMMANDS = runnable_commands()


def test_the_readme_marks_commands_for_every_suite():
    suites = {engine_of(c) for c in COMMANDS if too_long(c) is None}
    assert suites == {"core", "airflow", "prefect"}, COMMANDS
    assert any(c.startswith("scripts/demo") for c in COMMANDS)


test_readme_command_runs_as_written = readme_test("core")
