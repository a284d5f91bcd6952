"""Directives to Airflow operator arguments (pure: no Airflow import, so validation can use it).

Airflow's own keys pass through: ``pool``, ``pool_slots``, ``queue``, ``priority_weight``,
``retries``, ``execution_timeout`` (seconds), ``executor_config`` (a mapping). The core's map to
Airflow's native equivalents: ``walltime`` -> ``execution_timeout`` (the task is failed when it
runs longer), ``np``/``ngpu``/``memory`` -> the operator's ``resources`` (cpus, gpus, ram in MB),
which executors that schedule by resources read and the UI shows. A key with no mapping is an
error naming it; nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from groupplug.directives import walltime_hours
from groupplug.exceptions import GroupplugValueError, Problem


def _text(key: str):
    def normalise(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        return value

    return normalise


def _whole(key: str, minimum: int):
    def normalise(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key} must be a whole number >= {minimum}, got {value!r}")
        return value

    return normalise


def _seconds(value: Any) -> float:
    return walltime_hours(value) * 3600 if isinstance(value, str) else _positive(value)


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"execution_timeout must be seconds > 0 or a duration, got {value!r}")
    return float(value)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"executor_config must be a mapping, got {value!r}")
    return dict(value)


#: Directive keys the Airflow plugin registers (``groupplug_directive_types``).
AIRFLOW_TYPES = {
    "pool": _text("pool"),
    "pool_slots": _whole("pool_slots", 1),
    "queue": _text("queue"),
    "priority_weight": _whole("priority_weight", -(2**31)),
    "retries": _whole("retries", 0),
    "execution_timeout": _seconds,
    "executor_config": _mapping,
}
_PASS_THROUGH = ("pool", "pool_slots", "queue", "priority_weight", "retries", "executor_config")
_RESOURCES = {"np": "cpus", "ngpu": "gpus"}


def operator_kwargs(directives: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """BaseOperator keyword arguments for normalised ``directives``; unknown keys are errors."""
    kwargs: dict[str, Any] = {k: directives[k] for k in _PASS_THROUGH if k in directives}
    if "execution_timeout" in directives:
        kwargs["execution_timeout"] = timedelta(seconds=directives["execution_timeout"])
    elif "walltime" in directives:
        kwargs["execution_timeout"] = timedelta(hours=directives["walltime"])
    resources = {_RESOURCES[k]: directives[k] for k in _RESOURCES if k in directives}
    if "memory" in directives:
        resources["ram"] = int(round(directives["memory"] * 1024))
    if resources:
        kwargs["resources"] = resources
    known = {*_PASS_THROUGH, "execution_timeout", "walltime", "memory", *_RESOURCES}
    unknown = sorted(set(directives) - known)
    if unknown:
        raise GroupplugValueError([Problem(
            f"{where}.directives.{key}", "has no Airflow mapping",
            "use one of pool, pool_slots, queue, priority_weight, retries, execution_timeout, "
            "executor_config, np, ngpu, memory, walltime") for key in unknown])
    return kwargs
