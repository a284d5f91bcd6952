"""Where a command's log records go: the terminal gets groupplug's words, a file gets the rest.

- The terminal (stderr): groupplug's warnings and errors, and where the logs are, always; the
  run's story (``groupplug.story``) with ``-v``; everything, engines included, with ``-vv``.
- The engine log file (``groupplug run`` only): every record at INFO and above, from groupplug
  and from the engines (Airflow, Prefect, httpx), named at the end of the run. Prefect keeps a
  root handler that has a formatter of its own, so its records come here too.

Each warning is said once per run: Prefect warns once per task about a timeout it cannot enforce
in a worker thread, and groupplug once per member about directives an engine cannot map; a
group of 100 members printed the same line 100 times.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

STORY = "groupplug.story"
#: What the user must always be told (where the logs are): on the terminal at any verbosity.
SAY = "groupplug.say"
FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class OncePerRun(logging.Filter):
    """Lets a warning (or worse) through the first time only. Two records are the same warning
    when they come from the same logger with the same text before its arguments are filled in
    (``"%s: directives %s have no Prefect task option"``), or the same text when the logger
    formatted it itself."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = str(record.msg) if record.args else record.getMessage()
        key = (record.name, record.levelno, text)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


class _ForTerminal(logging.Filter):
    def __init__(self, verbosity: int):
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbosity >= 2:
            return True
        ours = record.name == "groupplug" or record.name.startswith("groupplug.")
        if record.name == STORY:
            return self.verbosity >= 1
        if record.name == SAY:
            return True
        return ours and record.levelno >= logging.WARNING


class _TerminalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name == STORY:
            return f"{time.strftime('%H:%M:%S', time.localtime(record.created))} " \
                   f"{record.getMessage()}"
        if record.name == SAY:
            return f"groupplug: {record.getMessage()}"
        if record.name.startswith("groupplug") and record.levelno >= logging.WARNING:
            return f"groupplug: {record.levelname.lower()}: {record.getMessage()}"
        return super().format(record)


class TerminalHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time: while the live tree is drawn, rich
    has put its own proxy there, which prints each line above the tree."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never end the run
            self.handleError(record)


def engine_log_path(engine: str) -> Path:
    """A new file for one run's engine log: ``$TMPDIR/groupplug-logs/<time>-<engine>-<pid>.log``
    (kept: the run names it at the end)."""
    folder = Path(tempfile.gettempdir()) / "groupplug-logs"
    folder.mkdir(exist_ok=True)
    return folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{engine}-{os.getpid()}.log"


def configure(verbosity: int, engine_log: Path | None = None) -> None:
    """Send this process's records to the terminal and, for a run, to ``engine_log``."""
    root = logging.getLogger()
    terminal = TerminalHandler()
    terminal.setFormatter(_TerminalFormatter(FORMAT))
    terminal.addFilter(_ForTerminal(verbosity))
    terminal.addFilter(OncePerRun())
    handlers: list[logging.Handler] = [terminal]
    if engine_log is not None:
        file = logging.FileHandler(engine_log, encoding="utf-8", delay=True)  # made at need
        file.setFormatter(logging.Formatter(FORMAT))
        file.addFilter(OncePerRun())
        handlers.append(file)
        logging.captureWarnings(True)  # Python warnings of the engines: the file, not the screen
    root.handlers[:] = handlers
    root.setLevel(logging.INFO if engine_log is not None or verbosity else logging.WARNING)
