"""Flows for ``groupplug run FILE.py:FLOW`` tests, written with today's shell ``member()`` groups.

``_keep`` hands each group's report to the run's registry; groups that record themselves when
they end make it a no-op (the report is already there).
"""

from prefect import flow

from groupplug.prefect import group, member
from groupplug.prefect.registry import collect, record


def _keep(g: group) -> None:
    for path, report in g.reports.items():
        if path not in collect():
            record(path, report)


@flow
def shell_training() -> str:
    with group("train", lead="master") as train:
        member("master", "sleep 1; echo trained")
        member("worker", "sleep 120")
    _keep(train)
    print("the flow prints this; with --json it goes to stderr")
    return train.state.value


@flow
def fails_after_its_groups() -> None:
    with group("prep") as prep:
        member("fetch", "echo fetched")
    _keep(prep)
    raise RuntimeError("the flow body failed after its groups")


@flow
def needs_an_argument(epochs: int) -> int:
    return epochs


def not_a_flow() -> None:
    """A plain function: naming it on the command line is an error that says to add @flow."""
