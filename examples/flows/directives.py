"""signac-style directives on Prefect: one simulation in two groups, each with its own resources.

``walltime`` becomes the task's ``timeout_seconds`` and ``tags`` its tags (tag concurrency
limits); ``ngpu``/``np``/``memory`` have no Prefect task option and are reported in the log.
The same simulation runs once per group it is executed through, with that group's directives.

Run it:  groupplug run examples/flows/directives.py:project --engine prefect
     or: python examples/flows/directives.py
"""

from __future__ import annotations

from prefect import flow

from groupplug.prefect import group, member


@flow(name="signac-project")
def project() -> str:
    with group("ex", lead="plot", barrier=False) as ex:
        member("simulate", "echo simulating; sleep 1",
               directives={"ngpu": 2, "walltime": "1h", "tags": ["simulation"]})
        member("plot", "echo plotting; sleep 2", directives={"walltime": "15m"})
    with group("nightly", lead="report", barrier=False, after=[ex]) as nightly:
        member("simulate", "echo simulating; sleep 1", directives={"ngpu": 1, "walltime": "1h"})
        member("report", "echo nightly report; sleep 1")
    for g in (ex, nightly):
        print(g.path, g.state.value)
    return nightly.state.value


if __name__ == "__main__":
    from groupplug.prefect._server import PrefectServer

    with PrefectServer():
        raise SystemExit(0 if project() == "succeeded" else 1)
