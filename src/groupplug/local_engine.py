"""The local reference engine plugin: runs YAML workflows as shell commands in subprocesses.

Member logs go to a run directory (``/tmp/groupplug-run-*``) that is removed when the run ends,
unless a member failed (its log explains why: the directory is kept and named), the caller
asked to keep it (``keep``, ``groupplug run --keep``) or gave its own (``log_dir``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from . import hookimpl
from .report import RunReport
from .spec import Workflow
from .states import MemberState
from .story import stopped_by_group

#: Where the member logs are: said at any verbosity (``groupplug.runlog``).
say = logging.getLogger("groupplug.say")


@hookimpl
def groupplug_engine_names() -> Sequence[str]:
    return ["local"]


@hookimpl
def groupplug_run_workflow(
    workflow: Workflow, engine: str, groups: Sequence[str], options: Mapping[str, Any]
) -> RunReport | None:
    if engine != "local":
        return None
    import shutil
    import tempfile

    from .runner import LocalRunner

    options = dict(options)
    keep = bool(options.pop("keep", False))
    given = options.get("log_dir") is not None
    if not given:
        options["log_dir"] = tempfile.mkdtemp(prefix="groupplug-run-")
    log_dir = options["log_dir"]
    report: RunReport | None = None
    try:
        report = LocalRunner(workflow, selected=groups, **options).run()
    finally:
        failed = [f"{p}.{n}" for p, g in (report.groups.items() if report else ())
                  for n, m in g.members.items() if m.state is MemberState.FAILED]
        own = [f"{p}.{n}" for p, g in (report.groups.items() if report else ())
               for n, m in g.members.items()
               if m.state is MemberState.FAILED and not stopped_by_group(m.reason)]
        failed = own or failed  # name who failed, not whom the group stopped for it
        if failed:
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            say.info("member logs: %s (%s failed%s)", log_dir, ", ".join(failed[:3]), more)
        elif given or keep or report is None:  # the user's folder, asked for, or cut short
            say.info("member logs: %s", log_dir)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    return report
