"""The YAML front door: shapes it accepts, every kind of bad input, line numbers."""

from __future__ import annotations

import pytest

from groupplug import load_workflow, loads_workflow
from groupplug.exceptions import GroupplugValueError, SpecLoadError

GOOD = """\
workflow:
  name: w
  tasks:
  - {name: shared, command: "true", directives: {ngpu: 1, memory: 512MB, walltime: 90m}}
  - {name: loose, command: "true"}
  groups:
  - name: train
    barrierTimeout: 60
    ignoreNonleadStatus: false
    directives: {shared: {ngpu: 2}}
    tasks:
    - {name: master, lead: true, setup: "true", command: "true", retries: 2, retryDelay: 1.5}
    - shared
  - name: nightly
    upstream: [train]
    lead: shared
    barrier: false
    tasks: [shared, {name: report, command: "true", inputs: [loose]}]
"""


def test_osmo_shape_loads_into_frozen_spec():
    wf = loads_workflow(GOOD)
    paths = wf.group_paths()
    assert list(paths) == ["train", "nightly", "loose"]
    train = paths["train"]
    assert train.barrier_timeout == 60.0 and train.ignore_nonlead_status is False
    assert train.lead.name == "master" and train.lead.retries == 2
    assert train.lead.retry_delay == 1.5
    shared = train.tasks[1]
    assert shared.directives == {"ngpu": 1, "memory": 0.5, "walltime": 1.5}
    assert train.member_directives(shared)["ngpu"] == 2
    assert paths["nightly"].lead.name == "shared", "group-level lead names a referenced task"
    assert paths["loose"].implicit and not paths["loose"].barrier
    assert "shared" not in paths, "a referenced workflow-level task is not a singleton group"
    with pytest.raises(TypeError):
        train.directives["x"] = 1


def test_path_and_bytes_and_text_give_the_same_spec(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text(GOOD)
    assert load_workflow(file) == load_workflow(str(file)) == load_workflow(GOOD.encode())


def problems(text: str) -> list[str]:
    with pytest.raises(GroupplugValueError) as info:
        loads_workflow(text)
    return [str(p) for p in info.value.problems]


def test_unknown_field_names_path_line_and_suggestion():
    text = GOOD.replace("retries: 2", "leed: true, retries: 2")
    (only,) = problems(text)
    assert only.startswith("workflow.groups[0].tasks[0].leed (line 12): unknown field")
    assert 'did you mean "lead"?' in only and "allowed: name, command" in only


def test_wrong_types_are_reported_together_with_lines():
    text = GOOD.replace("barrierTimeout: 60", "barrierTimeout: soon").replace(
        "barrier: false", "barrier: [1]")
    found = problems(text)
    assert len(found) == 2, found
    assert found[0].startswith("workflow.groups[0].barrierTimeout (line 8): expected seconds")
    assert found[1].startswith("workflow.groups[1].barrier (line 17): expected true or false")


def test_list_where_a_mapping_belongs():
    (only,) = problems("workflow:\n  name: w\n  groups:\n  - [a, b]\n")
    assert only.startswith("workflow.groups[0] (line 4): expected a mapping, found a list")


def test_unknown_reference_and_group_lead():
    text = GOOD.replace("    - shared\n  - name: nightly", "    - sharde\n  - name: nightly")
    text = text.replace("lead: shared", "lead: nobody")
    found = problems(text)
    assert any("workflow.groups[0].tasks[1] (line 13): unknown task 'sharde'" in f for f in found)
    assert any("workflow.groups[1].lead" in f and "'nobody' is not a member" in f for f in found)


def test_validation_problem_on_a_singleton_points_at_its_yaml_entry():
    text = GOOD.replace('{name: loose, command: "true"}', '{name: loose, retries: -1}')
    found = problems(text)
    assert any(f.startswith("workflow.tasks[1].command (line 5)") for f in found), found
    assert any(f.startswith("workflow.tasks[1].retries (line 5)") for f in found), found


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"   \n# only a comment\n", "the file is empty"),
        (b"workflow: [1, 2", "YAML syntax error"),
        (b"\x00\x01\xff\xfe garbage", "binary data"),
        (b"workflow:\n  name: \xff\xfe\n", "not UTF-8"),
        (b"- just\n- a list\n", "the top level is a list"),
        (b"workflow: 3\n", "is a number"),
        (b"flow:\n  name: x\n", "expected only a 'workflow:' key, found flow"),
        (b"workflow:\n  name: w\n", "no groups and no tasks"),
    ],
)
def test_bad_input_is_a_clean_error(tmp_path, content, fragment):
    file = tmp_path / "bad.yaml"
    file.write_bytes(content)
    with pytest.raises(GroupplugValueError) as info:
        load_workflow(file)
    assert fragment in str(info.value)


def test_syntax_error_has_its_line(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("workflow:\n  name: w\n  groups:\n  - name: [oops\n")
    with pytest.raises(SpecLoadError) as info:
        load_workflow(file)
    assert info.value.problems[0].line is not None


def test_missing_file():
    with pytest.raises(SpecLoadError, match="cannot read the file"):
        load_workflow("/nonexistent/w.yaml")
