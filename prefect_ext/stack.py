"""``groupplug run ... --engine prefect --stack``: the Prefect server of ``scripts/stack up``
(on PostgreSQL) and, for YAML workflows, its Dask cluster (a scheduler and two worker processes
under nannies) as every group's task runner; see :mod:`groupplug.stack`. A flow file keeps the
task runner its flow names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from groupplug import stack


def _state(options: Mapping[str, Any]) -> dict[str, Any] | None:
    if not stack.requested(options):
        return None
    state = stack.load()
    wanted = ("prefect-server", "dask-scheduler")
    stopped = [name for name in wanted if not stack.alive(state["pids"][name])]
    if stopped:
        from groupplug.exceptions import GroupplugError

        raise GroupplugError(f"--stack: the stack in {state['dir']} has stopped services "
                             f"({', '.join(stopped)}); 'scripts/stack up' restarts it")
    return state


def stack_server(options: Mapping[str, Any]) -> Any:
    """An :class:`ExistingServer` for the stack's Prefect server, or None without --stack."""
    state = _state(options)
    if state is None:
        return None
    from ._server import ExistingServer

    return ExistingServer(f"http://127.0.0.1:{state['prefect']['port']}/api")


def stack_task_runner(options: Mapping[str, Any]) -> Callable[[int], Any] | None:
    """Members -> a DaskTaskRunner on the stack's cluster, or None without --stack."""
    state = _state(options)
    if state is None:
        return None
    require_dask()
    address = f"tcp://127.0.0.1:{state['prefect']['dask_port']}"

    def runner(members: int) -> Any:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)

    return runner


def require_dask() -> None:
    """Refuse, before anything runs, a --stack run without prefect-dask (the ``[stack]``
    extra): found missing only when the first group started, it was an ImportError mid-run."""
    try:
        import prefect_dask  # noqa: F401
    except ImportError:
        from groupplug.exceptions import MissingExtraError

        raise MissingExtraError("stack", "prefect-dask", needed_by="--stack on Prefect (members "
                                "on the stack's Dask cluster)") from None
