"""``--stack`` refusals and the stack's settings file, without a stack or an engine."""

from __future__ import annotations

import pytest

from groupplug import stack
from groupplug.cli import main
from groupplug.exceptions import GroupplugError

YAML = ("workflow:\n  name: s\n  groups:\n  - name: g\n    tasks:\n"
        "    - {name: a, command: 'true'}\n")


@pytest.fixture
def workflow(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(YAML)
    return str(path)


def test_stack_is_refused_for_the_local_engine(workflow, capsys):
    assert main(["run", workflow, "--stack"]) == 2
    assert "--stack runs on --engine airflow or --engine prefect" in capsys.readouterr().err


def test_stack_and_port_are_refused_together(workflow, capsys):
    assert main(["run", workflow, "--engine", "prefect", "--stack", "--port", "4200"]) == 2
    assert "give one of them" in capsys.readouterr().err


def test_no_stack_running_names_the_directory_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(stack.DIR_ENV, str(tmp_path / "none"))
    with pytest.raises(GroupplugError, match=r"no stack at .*none.*scripts/stack up"):
        stack.load()


def test_stack_is_requested_by_option_or_environment(monkeypatch):
    monkeypatch.delenv(stack.USE_ENV, raising=False)
    assert not stack.requested({})
    assert stack.requested({"stack": True})
    monkeypatch.setenv(stack.USE_ENV, "1")
    assert stack.requested({})
