"""The conformance table with ``@task`` members as a flow file for ``groupplug run``.

``GROUPPLUG_TEST_SCENARIO`` names the scenario's YAML; the flow opens its groups as ``with
group(...)`` blocks of ``@task`` members (the same translation as test_conformance_native).
"""

import os

from prefect import flow

from groupplug.loader import load_workflow
from tests.prefect.test_conformance_native import _open


@flow(name="conformance-cli")
def table() -> None:
    workflow = load_workflow(os.environ["GROUPPLUG_TEST_SCENARIO"])
    blocks: dict = {}
    for g in workflow.groups:
        _open(g, blocks)
