"""A command run on a pseudo-terminal, and the screen a user would see at its end.

The screen is rebuilt from the bytes by a small terminal emulator that knows what the live tree
and log lines use (text, CR, LF, cursor up, erase line, colours ignored): a stale copy of the
tree left on the screen, or log lines written through the tree, show up in ``screen`` as they
would on a real terminal.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_CSI = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])")


@dataclass
class TerminalRun:
    returncode: int
    raw: str  # everything the command wrote to the terminal (stdout and stderr)
    stdout: str = ""  # what it wrote to stdout when stdout was a pipe (``json_stdout``)

    @property
    def screen(self) -> list[str]:
        return emulate(self.raw)

    @property
    def cursor_ups(self) -> int:
        return len(re.findall(r"\x1b\[\d*A", self.raw))


def run_on_terminal(argv: Sequence[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None, timeout: float = 300,
                    columns: int = 120, stdout_pipe: bool = False) -> TerminalRun:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal (stdout on a pipe
    of its own with ``stdout_pipe``, as in ``groupplug run --json > report.json``)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    full_env = {**(env or os.environ), "TERM": "xterm-256color", "COLUMNS": str(columns)}
    full_env.pop("NO_COLOR", None)
    import tempfile

    captured = tempfile.TemporaryFile() if stdout_pipe else None
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=captured or slave, stderr=slave,
                            cwd=cwd, env=full_env, close_fds=True, start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"{argv} did not end in {timeout}s; wrote:\n"
                                 f"{out.decode(errors='replace')[-3000:]}")
    finally:
        os.close(master)
    returncode = proc.wait()
    stdout = ""
    if captured is not None:
        captured.seek(0)
        stdout = captured.read().decode(errors="replace")
        captured.close()
    return TerminalRun(returncode, out.decode(errors="replace"), stdout)


class _Screen:
    def __init__(self) -> None:
        self.lines: list[list[str]] = [[]]
        self.row = self.col = 0

    def _grow(self) -> None:
        while len(self.lines) <= self.row:
            self.lines.append([])

    def control(self, arg: str, code: str) -> None:
        n = int(arg) if arg.isdigit() else 1
        line = self.lines[self.row]
        if code == "A":
            self.row = max(0, self.row - n)
        elif code == "B":
            self.row += n
        elif code == "G":
            self.col = max(0, n - 1)
        elif code == "K":  # erase in line: 2 the whole line, else from the cursor on
            line[:] = [" "] * min(self.col, len(line)) if arg != "2" else []
        elif code == "J":  # erase below the cursor
            del self.lines[self.row + 1:]
            del line[self.col:]
        self._grow()

    def write(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\n":
            self.row += 1
            self._grow()
        elif char >= " ":
            line = self.lines[self.row]
            line.extend(" " * (self.col + 1 - len(line)))
            line[self.col] = char
            self.col += 1

    def text(self) -> list[str]:
        text = ["".join(line).rstrip() for line in self.lines]
        while text and not text[-1]:
            text.pop()
        return text


def emulate(raw: str) -> list[str]:
    """The lines on the screen after ``raw`` was written to an empty terminal."""
    screen = _Screen()
    pos = 0
    while pos < len(raw):
        match = _CSI.match(raw, pos)
        if match:
            screen.control(*match.groups())
            pos = match.end()
        elif raw[pos] == "\x1b":  # another escape (cursor save, charset): skip it
            pos += 2
        else:
            screen.write(raw[pos])
            pos += 1
    return screen.text()
