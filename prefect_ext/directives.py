"""Directives to Prefect task options (pure: no Prefect import).

``walltime`` -> ``timeout_seconds`` (Prefect fails the task run when it runs longer);
``tags`` (a list of strings) -> task tags, which is how Prefect's tag concurrency limits apply;
``retries`` is the member's own retry count (members retry inside their task so the group can
restart peers, DESIGN section 3). ``np``, ``ngpu`` and ``memory`` have no Prefect task option:
they are reported (a warning in the run's log and the group's artifact), never silently dropped.
Keys no mapping knows are errors naming the key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from groupplug.exceptions import GroupplugValueError, Problem

log = logging.getLogger(__name__)

UNMAPPED = ("np", "ngpu", "memory")


def _tags(value: Any) -> tuple[str, ...]:
    # A tuple too: specs are frozen, so a normalised list comes back as a tuple.
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) and t for t in value):
        raise ValueError(f"tags must be a list of strings, got {value!r}")
    return tuple(value)


#: Directive keys the Prefect plugin registers (``groupplug_directive_types``).
PREFECT_TYPES = {"tags": _tags}


def task_options(directives: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``prefect.task`` options for normalised ``directives``."""
    options: dict[str, Any] = {}
    if "walltime" in directives:
        options["timeout_seconds"] = float(directives["walltime"]) * 3600
    if "tags" in directives:
        options["tags"] = list(directives["tags"])
    unmapped = [k for k in UNMAPPED if k in directives]
    if unmapped:
        log.warning("%s: directives %s have no Prefect task option; they describe the group's "
                    "needs (groupplug show) but do not limit the task here", where,
                    ", ".join(unmapped))
    known = {"walltime", "tags", "retries", *UNMAPPED}
    unknown = sorted(set(directives) - known)
    if unknown:
        raise GroupplugValueError([Problem(f"{where}.directives.{k}", "has no Prefect mapping",
                                           "use walltime, tags, retries, np, ngpu or memory")
                                   for k in unknown])
    return options
