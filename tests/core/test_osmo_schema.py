"""The JSON Schema of the workflow file: generated from the loader's own models, packaged, and in
agreement with the loader on the examples and on bad files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from groupplug import loads_workflow
from groupplug.exceptions import GroupplugValueError
from groupplug.schema_model import json_schema, json_schema_text

EXAMPLES = sorted((Path(__file__).parents[2] / "examples/workflows").rglob("*.yaml"))


def packaged() -> str:
    return resources.files("groupplug").joinpath("workflow.schema.json").read_text()


def test_packaged_schema_is_a_fresh_generation():
    # Regenerate after changing schema_model: python -c "from groupplug.schema_model import
    # json_schema_text; open('src/groupplug/workflow.schema.json', 'w').write(json_schema_text())"
    assert packaged() == json_schema_text()


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(p.parents[1])) for p in EXAMPLES])
def test_every_example_validates_against_the_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), json_schema())


@pytest.mark.parametrize(
    "task",
    [
        "{name: a, command: 'true', leed: true}",           # unknown field
        "{name: a, command: [python, [x]]}",                # a list inside the argument vector
        "{name: a, command: 'true', retries: two}",         # wrong type
        "{name: a, command: 'true', inputs: [{url: s3://x}]}",  # OSMO URL input
        "{name: a, command: 'true', environment: {A: [1]}}",  # not a scalar
        "{name: a, command: 'true', files: [{path: x}]}",   # contents missing
        "{command: 'true'}",                                # name missing
    ],
)
def test_schema_and_loader_refuse_the_same_bad_fields(task):
    text = f"workflow:\n  name: w\n  tasks:\n  - {task}\n"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), json_schema())
    with pytest.raises(GroupplugValueError):
        loads_workflow(text)


def test_cli_prints_the_packaged_schema(capsys):
    from groupplug.cli import main

    assert main(["schema"]) == 0
    assert capsys.readouterr().out == packaged()
