"""signac-style FlowGroups on Prefect: one task in two groups, group-specific directives.

``walltime`` becomes the task's ``timeout_seconds`` and ``tags`` its tags (tag concurrency
limits); ``ngpu``/``np``/``memory`` have no Prefect task option and are reported in the log.

Run: python examples/flows/directives.py
"""

from __future__ import annotations

from prefect import flow

from groupplug.prefect import group, member
from groupplug.prefect._server import PrefectServer


@flow(name="signac-project")
def project() -> str:
    with group("project") as everything:
        with group("ex", barrier=False, lead="plot", directives={"simulate": {"ngpu": 2}}):
            member("simulate", "echo simulating; sleep 1",
                   directives={"ngpu": 1, "walltime": "1h", "tags": ["simulation"]})
            member("plot", "echo plotting; sleep 2", directives={"walltime": "15m"})
        with group("nightly", upstream=["ex"], barrier=False, lead="report"):
            member("simulate")  # the same task again, with its own ngpu: 1 in this group
            member("report", "echo nightly report; sleep 2")
    for path, report in everything.reports.items():
        print(path, report.state.value)
    return everything.state.value


if __name__ == "__main__":
    with PrefectServer():
        raise SystemExit(0 if project() == "succeeded" else 1)
