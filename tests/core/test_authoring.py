"""The Python API gives the same frozen, validated spec as the YAML front door."""

from __future__ import annotations

import threading

import pytest

from groupplug import GroupplugValueError, group, loads_workflow, task, workflow
from groupplug.authoring import authoring_stack

YAML = """\
workflow:
  name: train-job
  tasks:
  - {name: simulate, command: sim, directives: {ngpu: 1}}
  groups:
  - name: train
    barrierTimeout: 600
    directives: {worker-1: {ngpu: 2}}
    tasks:
    - {name: master, lead: true, setup: pull, command: train0, directives: {memory: 16GB}}
    - {name: worker-1, command: train1, retries: 1}
  - name: pipeline
    upstream: [train]
    groups:
    - name: prep
      barrier: false
      tasks: [simulate, {name: clean, lead: true, command: clean, inputs: [master]}]
"""


def test_python_api_equals_yaml():
    with workflow("train-job") as wf:
        task("simulate", "sim", directives={"ngpu": 1})
        with group("train", barrier_timeout=600, directives={"worker-1": {"ngpu": 2}}):
            task("master", "train0", setup="pull", lead=True, directives={"memory": "16GB"})
            task("worker-1", "train1", retries=1)
        with group("pipeline", upstream=["train"]):
            with group("prep", barrier=False, lead="clean"):
                task("simulate")  # a reference: the task defined above, now also in prep
                task("clean", "clean", inputs=["master"])
    assert wf.spec == loads_workflow(YAML)


def test_decorator_form_declares_the_group_each_call():
    @group("evaluate", upstream="train")
    def evaluate(metric):
        task("score", f"score --metric {metric}")

    with workflow("w") as wf:
        with group("train"):
            task("fit", "fit")
        evaluate("f1")
    (_, ev) = wf.spec.find_group("evaluate")
    assert ev.upstream == ("train",) and ev.tasks[0].command == "score --metric f1"


def test_workflow_rules_run_when_the_block_ends():
    with pytest.raises(GroupplugValueError, match="nobody"):
        with workflow("w"):
            with group("g", upstream=["nobody"]):
                task("a", "true")


def test_group_errors_speak_python():
    with workflow("w"), pytest.raises(GroupplugValueError) as err:
        with group("g"):
            task("a", "true", lead=True)
            task("b", "true", lead=True)
    assert "has 2 members and 2 leads (a, b); pass lead=<one of: a, b> to group('g')" in str(
        err.value)
    with workflow("w"), pytest.raises(GroupplugValueError) as err:
        with group("empty"):
            pass
    message = str(err.value)
    assert "group('empty'): has no members; call task(...) inside its 'with' block" in message
    assert "tasks:" not in message  # no YAML words in a Python error


def test_a_callable_where_a_shell_command_belongs_names_fn():
    def train():
        return 1

    with pytest.raises(GroupplugValueError, match="pass fn=train to run Python"):
        with workflow("w"), group("g"):
            task("a", train)


def test_arguments_are_checked_eagerly():
    with pytest.raises(GroupplugValueError, match=r"group\('g'\).barrier_timeout: must be > 0"):
        group("g", barrier_timeout=-5)
    with pytest.raises(GroupplugValueError, match="is not allowed"):
        group("bad name")
    with workflow("w"), pytest.raises(GroupplugValueError, match="'nobody' is not a member"):
        with group("g", lead="nobody"):
            task("a", "true")


def test_lifecycle_misuse_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="wrap it in 'with workflow"):
        task("a", "true")
    with pytest.raises(RuntimeError, match="outside a workflow"):
        with group("g"):
            pass
    wf = workflow("w")
    with pytest.raises(RuntimeError, match="only available after its 'with' block ends"):
        wf.spec  # noqa: B018
    with wf:
        task("a", "true")
        with pytest.raises(RuntimeError, match="only available after"):
            wf.spec  # noqa: B018
    with pytest.raises(RuntimeError, match="already used"):
        with wf:
            pass


def test_each_thread_has_its_own_stack():
    seen = []
    with workflow("w"):
        worker = threading.Thread(target=lambda: seen.append(authoring_stack()))
        worker.start()
        worker.join()
        task("a", "true")
    assert seen == [()]
