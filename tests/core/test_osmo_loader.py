"""Workflow files written in OSMO's documented form: every task field, every refusal, the dump."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from groupplug import dump_workflow, load_workflow, loads_workflow
from groupplug.cli import main
from groupplug.exceptions import GroupplugValueError

OSMO_EXAMPLES = sorted((Path(__file__).parents[2] / "examples/workflows/osmo").glob("*.yaml"))

#: OSMO's own documentation examples, in their shape (serial workflow, resources, files, tokens).
DOCUMENTED = """\
workflow:
  name: ml-pipeline
  resources:
    default:
      cpu: 0.5
      memory: 512Mi
      storage: 1Gi
    training:
      cpu: 8
      gpu: 1
      memory: 32Gi
      platform: dgx-a100
  tasks:
  - name: preprocess
    image: python:3.10
    command: ["python"]
    args: ["preprocess.py", "--rank", 0, "--fast", true, 1.5]
    environment:
      PORT: 8080
      DEBUG: true
      DATA: "{{output}}/data"
    outputs:
    - url: s3://bucket/path
  - name: train
    image: pytorch/pytorch
    command: [sh]
    args: [/tmp/run.sh]
    resource: training
    directives: {walltime: 2h}
    inputs:
    - task: preprocess
    files:
    - contents: |
        echo "Hello from train"
        cat {{input:0}}/data > {{output}}/copy
      path: run.sh
"""


def test_documented_task_fields_fill_the_spec():
    wf = loads_workflow(DOCUMENTED)
    pre, train = (g.tasks[0] for g in wf.groups)
    assert pre.command is None and pre.argv == ("python",)
    assert pre.args == ("preprocess.py", "--rank", "0", "--fast", "true", "1.5")
    assert pre.environment == {"PORT": "8080", "DEBUG": "true", "DATA": "{{output}}/data"}
    assert pre.image == "python:3.10" and pre.outputs == ({"url": "s3://bucket/path"},)
    assert train.inputs == ("preprocess",) and wf.osmo_inputs
    assert train.files[0].path == "run.sh" and "{{input:0}}" in train.files[0].contents
    # resource: training -> np 8, ngpu 1, 32Gi = 32 GB; the task's own directives add to them
    assert train.resource == "training"
    assert train.directives == {"np": 8, "ngpu": 1, "memory": 32.0, "walltime": 2.0}
    # no resource: OSMO's 'default' spec; cpu 0.5 is one whole process, 512Mi is 0.5 GB
    assert pre.resource is None and pre.directives == {"np": 1, "memory": 0.5}
    assert wf.resources["training"]["platform"] == "dgx-a100"


def test_plain_names_stay_valid_and_mix_with_osmo_inputs():
    wf = loads_workflow(textwrap.dedent("""\
        workflow:
          name: w
          tasks:
          - {name: a, command: "true"}
          - {name: b, command: "true"}
          - {name: c, command: "true", inputs: [a, {task: b}]}
        """))
    assert wf.groups[2].tasks[0].inputs == ("a", "b")


def test_osmo_file_dumps_back_in_osmo_spelling():
    wf = loads_workflow(DOCUMENTED)
    text = dump_workflow(wf)
    assert loads_workflow(text) == wf
    assert "- task: preprocess" in text and "resource: training" in text
    assert "command:\n    - python\n" in text and "platform: dgx-a100" in text
    assert "np:" not in text, "directives a resource gives are written as the resource"
    assert "contents: |" in text, "scripts stay blocks"


@pytest.mark.parametrize("path", OSMO_EXAMPLES, ids=[p.stem for p in OSMO_EXAMPLES])
def test_examples_validate_show_and_round_trip(path, capsys):
    assert main(["validate", str(path)]) == 0
    assert "valid (" in capsys.readouterr().out
    assert main(["show", str(path)]) == 0
    wf = load_workflow(path)
    assert wf.name in capsys.readouterr().out
    assert main(["show", "--json", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["workflow"]["name"] == wf.name
    assert all(isinstance(i, dict) for t in shown["workflow"].get("tasks", [])
               for i in t.get("inputs", [])), "OSMO files show OSMO's input spelling"
    assert loads_workflow(dump_workflow(wf)) == wf
    assert any(t.argv for _, g in wf.walk() for t in g.tasks), "written with command lists"


BASE = """\
workflow:
  name: w
  tasks:
  - name: a
    command: [sh, -c]
    args: ["true"]
  - name: b
    command: [sh, -c]
    args: ["true"]
    inputs:
    - task: a
"""
B_ARGS = '    args: ["true"]\n    inputs:'
A_ARGS = '    args: ["true"]\n  - name: b'


def _b_args(arg: str) -> tuple[str, str]:
    return B_ARGS, f"    args: [{json.dumps(arg)}]\n    inputs:"


@pytest.mark.parametrize(
    ("old", "new", "where", "fragment"),
    [
        ("    - task: a", "    - url: s3://bucket/x", "workflow.tasks[1].inputs[0].url (line 11)",
         "a URL input: groupplug does not download data; download it in the task's setup:"),
        ("    - task: a", "    - dataset: {name: imagenet}",
         "workflow.tasks[1].inputs[0].dataset (line 11)", "an OSMO dataset input"),
        ("    - task: a", "    - task: a\n      regex: .*txt",
         "workflow.tasks[1].inputs[0].regex (line 12)", "remove regex:"),
        (*_b_args("echo {{workflow_id}}"), "workflow.tasks[1].args[0] (line 9)",
         "OSMO's {{workflow_id}} is not resolved by groupplug; use the workflow's name"),
        (*_b_args("ping {{host:a}}"), "workflow.tasks[1].args[0] (line 9)",
         "OSMO's {{host:a}} is not resolved"),
        (*_b_args("{{message}}"), "workflow.tasks[1].args[0] (line 9)",
         "{{message}} is an OSMO template variable: groupplug does not render templates"),
        (*_b_args("cat {{input:1}}/x"), "workflow.tasks[1].args[0] (line 9)",
         '{{input:1}} is out of range for task "b": it has 1 input (0..0); add the task'),
        (A_ARGS, '    args: ["cat {{input:0}}/x"]\n  - name: b',
         "workflow.tasks[0].args[0] (line 6)",
         '{{input:0}} is out of range for task "a": it has no inputs'),
        (*_b_args("{{ output }}/x"), "workflow.tasks[1].args[0] (line 9)",
         "groupplug resolves the token written without spaces; write {{output}}"),
        ("    - task: a", "    - task: a\n    files:\n    - path: x.sh\n      contents: |\n"
         "        {% for i in range(3) %}echo {{i}}{% endfor %}",
         "workflow.tasks[1].files[0].contents (line 14)", "template statement"),
        ("  - name: a\n", "  - name: a\n    image: '{{training_image}}'\n",
         "workflow.tasks[0].image (line 5)", "{{training_image}} is an OSMO template variable"),
        ("  - name: a\n", "  - name: a\n    files: [{path: '{{output}}/x', contents: y}]\n",
         "workflow.tasks[0].files[0].path (line 5)", "{{output}} is resolved only in command, "
         "args, setup, environment values and file contents"),
        ("  - name: a\n", "  - name: a\n    resource: gpu\n", "workflow.tasks[0].resource (line 5)",
         "unknown resource 'gpu'; name one of the workflow's resources: (none"),
        ("  - name: a\n", "  - name: a\n    files: [{path: x, localpath: files/x.sh}]\n",
         "workflow.tasks[0].files[0].localpath (line 5)", "paste its text inline"),
        ("  - name: a\n", "  - name: a\n    credentials: {token: t}\n",
         "workflow.tasks[0].credentials (line 5)", "OSMO credentials are not supported"),
        ("  name: w\n", "  name: w\n  pool: my-pool\n", "workflow.pool (line 3)",
         "OSMO pools are not supported"),
        ("    command: [sh, -c]\n    args: [\"true\"]\n  - name: b",
         '    command: "python -u"\n    args: [train.py]\n  - name: b',
         "workflow.tasks[0].command (line 5)",
         'cannot take args: the arguments would not reach the program; write it as a list, '
         'command: ["python", "-u"]'),
        ("    command: [sh, -c]\n    args: [\"true\"]\n  - name: b",
         "    args: [train.py]\n  - name: b", "workflow.tasks[0].args (line 5)",
         "args without a command list; add command: [program]"),
        ("    command: [sh, -c]\n    args: [\"true\"]\n  - name: b",
         "    command: []\n  - name: b", "workflow.tasks[0].command (line 5)",
         "an empty command list names no program"),
        ("  name: w\n", "  name: w\n  resources:\n    default: {cpu: 0, memory: lots}\n",
         "workflow.resources.default.cpu (line 4)", "cpu must be > 0 cores"),
        ("  name: w\n", "  name: w\n  resources:\n    default: {memory: lots}\n",
         "workflow.resources.default.memory (line 4)", "memory must be a number of GB"),
        ("  name: w\n", "  name: w\n  resources:\n    default: {gpu: two}\n",
         "workflow.resources.default.gpu (line 4)", "expected a whole number of GPUs"),
        ("  - name: a\n", "  - name: a\n    environment: {1: x}\n",
         "workflow.tasks[0].environment.1 (line 5)", 'the name 1 must be text; write it quoted'),
        ("    command: [sh, -c]\n", '    command: ["python3 train.py", --fast]\n',
         "workflow.tasks[0].command[0] (line 5)", "the program 'python3 train.py' has spaces: "
         "a command list runs its first entry as the program's name, with no shell to split it; "
         'write command: ["python3", "train.py", "--fast"], or command: "python3 train.py"'),
        ("    command: [sh, -c]\n", "    command: [sh, [-c]]\n",
         "workflow.tasks[0].command[1] (line 5)", "expected a program or an argument"),
    ],
)
def test_refusals_name_the_field_and_line(tmp_path, capsys, old, new, where, fragment):
    assert old in BASE
    file = tmp_path / "w.yaml"
    file.write_text(BASE.replace(old, new, 1))
    assert main(["validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{file}: {where}: " in err and fragment in err, err


def test_a_template_file_is_refused_before_its_fields(tmp_path, capsys):
    file = tmp_path / "t.yaml"
    file.write_text("workflow:\n  name: hello\n  tasks:\n  - name: a\n    command: [echo]\n"
                    "default-values:\n  message: hi\n")
    assert main(["validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert "default-values: this is an OSMO workflow template" in err
    file.write_text("workflow:\n  name: {{workflow_name}}\n  tasks: []\n")
    assert main(["validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert "(line 2): YAML syntax error" in err and "OSMO (Jinja) template" in err


def test_a_one_word_command_string_before_args_is_the_program():
    # command: "python" is OSMO's command: [python] without brackets: run it, with no shell
    wf = loads_workflow(BASE.replace("command: [sh, -c]", 'command: "python3"', 1))
    assert wf.groups[0].tasks[0].argv == ("python3",) and wf.groups[0].tasks[0].command is None


def test_tokens_where_groupplug_resolves_them_are_valid():
    text = BASE.replace(B_ARGS, '    args: ["cp {{input:0}}/x {{output}}/y"]\n'
                        '    environment: {OUT: "{{output}}"}\n    inputs:')
    wf = loads_workflow(text)
    assert wf.groups[1].tasks[0].environment["OUT"] == "{{output}}"


def test_every_refusal_at_once_with_lines():
    with pytest.raises(GroupplugValueError) as info:
        loads_workflow(BASE.replace("    - task: a", "    - url: s3://x\n    - {task: a}")
                       .replace("  name: w\n", "  name: w\n  labels: {team: r}\n"))
    found = [str(p) for p in info.value.problems]
    assert sorted(f.split(":")[0] for f in found) == [
        "workflow.labels (line 3)", "workflow.tasks[1].inputs[0].url (line 12)"]
