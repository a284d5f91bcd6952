"""Directives (signac-flow): typed resource requests, per-member resolution, group aggregation.

Core keys: ``np`` (processes, int >= 1), ``ngpu`` (int >= 0), ``memory`` (GB: a number or a string
such as ``"16GB"``/``"512MB"``), ``walltime`` (hours: a number or a duration such as ``"1h30m"``,
``"90m"``, ``"2:30:00"``). Plugins add keys through ``groupplug_directive_types``. Values are
normalised when a spec is built (memory to GB, walltime to hours) so every engine sees one type.

Inside a group the group's value replaces the member's own for that key (signac replaces; it does
not merge inside a value). :func:`aggregate` sums what parallel members need at once and adds up
walltime along chains of members that run one after another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .spec import Group

Normaliser = Callable[[Any], Any]

_MEMORY_UNITS = {"": 1.0, "gb": 1.0, "g": 1.0, "gi": 1.0, "gib": 1.0, "mb": 1 / 1024,
                 "m": 1 / 1024, "mi": 1 / 1024, "mib": 1 / 1024, "tb": 1024.0, "t": 1024.0,
                 "ti": 1024.0, "tib": 1024.0}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_CLOCK = re.compile(r"^(\d+):([0-5]?\d)(?::([0-5]?\d))?$")
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(minimum: int, key: str) -> Normaliser:
    def normalise(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{key} must be a whole number >= {minimum}, got {value!r}")
        return value

    return normalise


def memory_gb(value: Any) -> float:
    """Memory in GB from a number (GB) or a string with a unit (``16GB``, ``512MB``, ``1TB``)."""
    if _is_number(value):
        if value < 0:
            raise ValueError(f"memory must be >= 0 GB, got {value!r}")
        return float(value)
    match = _MEMORY.match(value) if isinstance(value, str) else None
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _MEMORY_UNITS:
        raise ValueError(
            f"memory must be a number of GB or a string like '16GB' or '512MB', got {value!r}"
        )
    return float(match.group(1)) * _MEMORY_UNITS[unit]


def walltime_hours(value: Any) -> float:
    """Walltime in hours from a number (hours) or a duration (``1h30m``, ``90m``, ``2:30:00``)."""
    if _is_number(value):
        if value <= 0:
            raise ValueError(f"walltime must be > 0 hours, got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        clock = _CLOCK.match(text)
        if clock:
            hours, minutes, seconds = (int(g or 0) for g in clock.groups())
            total = hours * 3600 + minutes * 60 + seconds
        elif text and _DURATION_PART.sub("", text) == "":
            total = sum(float(n) * _SECONDS[u] for n, u in _DURATION_PART.findall(text))
        else:
            total = -1
        if total > 0:
            return total / 3600
    raise ValueError(
        f"walltime must be hours (a number) or a duration like '1h30m', '90m' or '2:30:00', "
        f"got {value!r}"
    )


CORE_TYPES: dict[str, Normaliser] = {
    "np": _count(1, "np"),
    "ngpu": _count(0, "ngpu"),
    "memory": memory_gb,
    "walltime": walltime_hours,
}
SUMMED = ("np", "ngpu", "memory")


def directive_types(pm: Any = None) -> dict[str, Normaliser]:
    """Every known directive key: the core's plus those plugins register."""
    types = dict(CORE_TYPES)
    if pm is None:
        from .plugins import get_plugin_manager

        pm = get_plugin_manager()
    for registered in pm.hook.groupplug_directive_types():
        types.update(registered or {})
    return types


def normalise(
    directives: Mapping[str, Any], types: Mapping[str, Normaliser]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(normalised directives, {key: problem})``; unknown keys and bad values are problems."""
    result: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in directives.items():
        normaliser = types.get(key)
        if normaliser is None:
            problems[key] = (
                f"unknown directive {key!r}; known: {', '.join(sorted(types))} "
                "(a plugin can register more through groupplug_directive_types)"
            )
            continue
        try:
            result[key] = normaliser(value)
        except (TypeError, ValueError) as exc:
            problems[key] = str(exc)
    return result, problems


def _chain_order(group: Group) -> dict[str, list[str]]:
    """For each member, the members of the same group it takes as inputs."""
    names = {t.name for t in group.tasks}
    return {t.name: [i for i in t.inputs if i in names and i != t.name] for t in group.tasks}


def is_serial(group: Group) -> bool:
    """Whether the members run one after another: their inputs chain all of them in one line."""
    if len(group.tasks) < 2:
        return False
    needs = _chain_order(group)
    return _longest_chain(needs, {n: 1.0 for n in needs}) == len(needs)


def _longest_chain(needs: Mapping[str, list[str]], weight: Mapping[str, float]) -> float:
    """The heaviest path through the members' inputs (Kahn's order; cycles are validation's)."""
    waiting = {n: len(d) for n, d in needs.items()}
    feeds: dict[str, list[str]] = {n: [] for n in needs}
    for name, deps in needs.items():
        for dep in deps:
            feeds[dep].append(name)
    best = {n: weight[n] for n in needs}
    ready = [n for n, count in waiting.items() if count == 0]
    while ready:
        name = ready.pop()
        for nxt in feeds[name]:
            best[nxt] = max(best[nxt], best[name] + weight[nxt])
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    return max(best.values(), default=0.0)


def aggregate(group: Group) -> dict[str, Any]:
    """What the group as a whole needs (signac's group directives).

    ``np``/``ngpu``/``memory``: summed over members that run at the same time (the default, and
    always for barrier groups), the maximum when the members run one after another.
    ``walltime``: the longest chain of members (the max for parallel members, the sum for serial).
    Only keys some member sets appear.
    """
    resolved = {t.name: group.member_directives(t) for t in group.tasks}
    serial = is_serial(group) and not group.has_barrier
    totals: dict[str, Any] = {}
    for key in SUMMED:
        values = [d[key] for d in resolved.values() if key in d]
        if values:
            totals[key] = max(values) if serial else sum(values)
    if any("walltime" in d for d in resolved.values()):
        hours = {n: float(d.get("walltime", 0.0)) for n, d in resolved.items()}
        totals["walltime"] = _longest_chain(_chain_order(group), hours)
    return totals


def _trim(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


def format_directive(key: str, value: Any) -> str:
    """A directive as a user writes it: memory in GB/MB/TB, walltime as ``1h30m``.

    The normalised values (memory in GB, walltime in hours) are numbers without units; shown bare
    they read wrong (``memory=9 walltime=1`` for ``8GB`` + ``1GB`` and ``1h``).
    >>> format_directive("memory", 0.5), format_directive("walltime", 1.5)
    ('512MB', '1h30m')
    """
    if key == "memory" and _is_number(value):
        if 0 < value < 1:
            return f"{_trim(value * 1024)}MB"
        return f"{_trim(value / 1024)}TB" if value >= 1024 and value % 1024 == 0 else \
            f"{_trim(value)}GB"
    if key == "walltime" and _is_number(value):
        seconds = round(value * 3600)
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
        return "".join(f"{n}{u}" for n, u in parts if n) or "0s"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
