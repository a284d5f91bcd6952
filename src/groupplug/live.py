"""The live tree of a run on a terminal, redrawn in place with rich.

Why rich's ``Live``: it owns the bottom of the screen and prints whatever else is written
meanwhile (our log lines, a flow's ``print``) above the tree. The hand-made redraw it replaces
moved the cursor up over lines Prefect had printed in between, and left stale copies of the tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from .report import RunReport

Render = Callable[[RunReport], list[str]]


class LiveTree:
    """``update(report)`` from any thread; the tree is redrawn four times a second while live.

    Disabled (every method a no-op) when ``stream`` is not a terminal.
    """

    def __init__(self, render: Render, stream: TextIO):
        self.render = render
        self.enabled = stream.isatty()
        self._report: RunReport | None = None
        self._last: object = ""
        self._live = None
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=stream, force_terminal=True)
            self._live = Live(console=console, get_renderable=self._renderable,
                              refresh_per_second=4, transient=True,
                              redirect_stdout=True, redirect_stderr=True)

    def start(self) -> LiveTree:
        if self._live is not None:
            self._live.start()
        return self

    def update(self, report: RunReport) -> None:
        self._report = report

    def stop(self) -> None:
        """Take the tree off the screen (the caller prints the final one where it belongs)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _renderable(self) -> object:
        from rich.text import Text

        if self._report is None:
            return self._last
        try:
            lines = self.render(self._report)
        except (KeyError, RuntimeError):  # the engine changed the report while we read it
            return self._last
        self._last = Text.from_ansi("\n".join(lines), no_wrap=True, overflow="ellipsis")
        return self._last
