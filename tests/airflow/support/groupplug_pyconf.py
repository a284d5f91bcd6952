"""Test support: the conformance table's shell scripts, done in Python by ``@task`` members.

The Python variant of the conformance table (``test_conformance_python.py``) runs each scenario
with ``@task`` members whose work is this interpreter of the table's few shell forms
(``sleep N``, ``exit N``, ``true``, ``echo ...``, ``touch M`` joined by ``;``, ``fail_once``'s
``if [ -f M ]; then A; else touch M; B; fi``, the under-load variants' wait for marker files),
so the work is Python (``time.sleep`` in the task process, an exception to fail) and the group
stops it as any Python task.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

FAIL_ONCE = re.compile(r"if \[ -f (\S+) \]; then (.*?); else touch (\S+); (.*?); fi")
WAIT_FOR = re.compile(r"for i in \$\(seq (\d+)\); do ((?:\[ -e \S+ \] && )+)"
                      r"(?:sleep ([\d.]+) && )?exit 0; sleep 0\.2; done; exit 1")


class ScriptExit(RuntimeError):
    """A script's ``exit N`` with N != 0."""


def run_script(script: str) -> None:
    script = script.strip()
    branch = FAIL_ONCE.fullmatch(script)
    if branch:
        if Path(branch[1]).exists():
            return run_script(branch[2])
        Path(branch[3]).touch()
        return run_script(branch[4])
    waits = WAIT_FOR.fullmatch(script)
    if waits:
        paths = [Path(p) for p in re.findall(r"\[ -e (\S+) \]", waits[2])]
        for _ in range(int(waits[1])):
            if all(p.exists() for p in paths):
                time.sleep(float(waits[3] or 0))
                return None
            time.sleep(0.2)
        raise ScriptExit("exit code 1")
    for part in (p.strip() for p in script.split(";")):
        if part.startswith("sleep "):
            time.sleep(float(part[6:]))
        elif part.startswith("exit "):
            code = int(part[5:])
            if code:
                raise ScriptExit(f"exit code {code}")
            return None
        elif part.startswith("touch "):
            Path(part[6:]).touch()
        elif part in ("true", "") or part.startswith("echo "):
            continue
        else:
            raise ValueError(f"no Python form for {part!r}")
    return None
