"""Every error groupplug raises derives from :class:`GroupplugError`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class GroupplugError(Exception):
    """Base class of all groupplug errors."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where, what, and how to fix it.

    ``path`` is the exact field, e.g. ``workflow.groups[0].tasks[1].lead``; ``line`` is the YAML
    line (1-based) when the loader knows it.
    """

    path: str
    message: str
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        text = f"{where}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


class GroupplugValueError(GroupplugError, ValueError):
    """A spec (YAML or Python) is invalid. Carries every problem found, not only the first."""

    def __init__(self, problems: Iterable[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(path="", message=problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the spec:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class SpecLoadError(GroupplugValueError):
    """The spec file cannot be read or parsed (I/O, YAML syntax, not a mapping, binary data)."""


class BarrierTimeout(GroupplugError):
    """A barrier did not release within its ``barrier_timeout``."""

    def __init__(self, group: str, waited: float, missing: Iterable[str]):
        self.group = group
        self.waited = waited
        self.missing = tuple(sorted(missing))
        super().__init__(
            f'BarrierTimeout: group "{group}" waited {waited:g}s; '
            f"not arrived: {', '.join(self.missing) or '(none)'}"
        )


class EngineNotAvailable(GroupplugError):
    """The requested engine is not installed or no plugin provides it."""


class MissingExtraError(GroupplugError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, extra: str, module: str, needed_by: str | None = None):
        self.extra = extra
        super().__init__(
            f"{needed_by or f'groupplug.{extra}'} needs the '{module}' package: install "
            f"groupplug with its [{extra}] extra (from a clone: pip install '.[{extra}]')"
        )


class EngineFailed(GroupplugError):
    """The engine or one of its services failed (a server that died or never answered, an API
    that kept failing): not the workflow's fault. ``groupplug run`` exits 3. ``report`` holds
    what was known when it happened, when anything was."""

    def __init__(self, message: str, report: object = None):
        self.report = report
        super().__init__(message)
