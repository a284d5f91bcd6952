"""``groupplug run FLOW_FILE.py:FLOW_NAME --engine prefect``: a user's ``@flow`` on our server.

The file is imported as a module (its directory first on ``sys.path``, so its own imports
work), the flow is found by its function name (or its Prefect name), run without arguments on
the embedded server, and its groups' reports (left in :mod:`.registry` as each group ends)
become the run's one report. A flow that fails outside its groups is a failed run, never a
succeeded one because every group that did run succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groupplug import interrupts
from groupplug.exceptions import GroupplugError
from groupplug.report import GroupReport, RunReport, roll_up_parents

log = logging.getLogger(__name__)


@dataclass
class FlowRunReport(RunReport):
    """A :class:`RunReport` that also carries how the flow run itself ended.

    ``flow_state`` is Prefect's state name (``Completed``, ``Failed``, ``Crashed``...); a flow
    run that did not complete makes the run ``failed`` whatever its groups say.
    """

    flow_state: str = "Completed"
    flow_message: str = ""
    flow_completed: bool = True

    @property
    def state(self) -> str:
        state = super().state
        if state == "succeeded" and not self.flow_completed:
            return "failed"
        return state

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["flow_run"] = {"state": self.flow_state, "message": self.flow_message}
        return data


def load_flow(path: str | Path, target: str | None) -> Any:
    """The ``@flow`` object ``target`` of the file at ``path`` (None: the file's only flow)."""
    from prefect import Flow

    file = Path(path).resolve()
    module = _import_file(file)
    flows = {name: obj for name, obj in vars(module).items() if isinstance(obj, Flow)}
    listing = ", ".join(sorted(flows)) or "none (decorate a function with @flow)"
    if target is None:
        if len(flows) != 1:
            raise GroupplugError(f"{path} defines {len(flows) or 'no'} flows: name one as "
                                 f"{path}:FLOW_NAME; its flows: {listing}")
        return next(iter(flows.values()))
    if target in flows:
        return flows[target]
    by_prefect_name = [f for f in flows.values() if f.name == target]
    if len(by_prefect_name) == 1:
        return by_prefect_name[0]
    if callable(getattr(module, target, None)):
        raise GroupplugError(f"{path}:{target} is not a flow; decorate it with @flow "
                             f"(from prefect import flow); the file's flows: {listing}")
    raise GroupplugError(f"{path} has no flow {target!r}; its flows: {listing}")


def _import_file(file: Path) -> Any:
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    # A name of our own: the file's `if __name__ == "__main__":` block must not run.
    name = f"groupplug_flowfile_{abs(hash(str(file)))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise GroupplugError(f"{file}: cannot import this file as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pickling (process and Dask runners) finds the flow's module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise GroupplugError(f"{file}: importing it raised {type(exc).__name__}: {exc}") from exc
    return module


def check_callable_without_arguments(flow: Any, where: str) -> None:
    required = [p.name for p in inspect.signature(flow.fn).parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise GroupplugError(f"{where}: groupplug run calls the flow without arguments, but it "
                             f"requires {', '.join(required)}; give them default values")


def run_flow_file(path: str, target: str | None, options: Mapping[str, Any]) -> RunReport:
    """Load the flow, run it on a server of our own (or the current one), report its groups."""
    from ._server import server_for
    from .story import telling_story

    quiet = _stdout_to_stderr() if options.get("json") else contextlib.nullcontext()
    with quiet:
        flow = load_flow(path, target)
        check_callable_without_arguments(flow, f"{path}:{target or flow.fn.__name__}")
        with telling_story(), server_for(options):
            return run_flow(flow)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """``--json`` promises one JSON object on stdout: what the user's code prints (Python
    ``print``, forked members, C libraries, child processes) goes to stderr meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_flow(flow: Any) -> FlowRunReport:
    """Run ``flow`` on the configured API; its report from the groups it ran."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from ._compat import signals_stay_ours
    from .registry import collecting
    from .runner import check_records_final

    with collecting() as groups, signals_stay_ours(), \
            temporary_settings(restore_defaults={PREFECT_FLOWS_HEARTBEAT_FREQUENCY}):
        # If the run must end abruptly (its server died): the groups that ended so far.
        interrupts.set_known_report(lambda: RunReport(flow.name, "prefect", dict(groups)))
        state = flow(return_state=True)
        if inspect.isawaitable(state):  # an async flow: its coroutine, run to its end here
            state = asyncio.run(_awaited(state))
    report = build_report(flow.name, dict(groups), state)
    if not groups:
        log.warning("flow %s recorded no groupplug group: the report holds the flow run's state "
                    "only (groups record themselves when their block ends)", flow.name)
    check_records_final(report.run_id)
    return report


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def build_report(name: str, groups: dict[str, GroupReport], state: Any) -> FlowRunReport:
    """The run's report from recorded groups and the flow run's final Prefect state."""
    message = state.message or ""
    if state.is_failed() or state.is_crashed():
        try:
            state.result(raise_on_failure=True)
        except BaseException as exc:  # noqa: BLE001 - any exception of the user's flow
            message = f"{type(exc).__name__}: {exc}"
    report = FlowRunReport(workflow=name, engine="prefect", groups=groups,
                           run_id=str(state.state_details.flow_run_id),
                           flow_state=state.name, flow_message=message,
                           flow_completed=bool(state.is_completed()))
    runnable = {p for p, g in groups.items() if g.members}
    for path in list(groups):  # a parent that recorded nothing still gets its roll-up
        parts = path.split(".")
        for depth in range(1, len(parts)):
            groups.setdefault(".".join(parts[:depth]), GroupReport())
    roll_up_parents(report, runnable)
    return report
