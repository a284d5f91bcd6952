"""Test support: the conformance table's shell scripts, done in Python by ``@task`` members.

The Python variant of the conformance table (``test_conformance_python.py``) runs each scenario
with ``@task`` members whose work is this interpreter of the table's few shell forms
(``sleep N``, ``exit N``, ``true``, ``echo ...`` joined by ``;``, and ``fail_once``'s
``if [ -f M ]; then A; else touch M; B; fi``), so the work is Python (``time.sleep`` in the
task process, an exception to fail) and the group stops it as any Python task.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

FAIL_ONCE = re.compile(r"if \[ -f (\S+) \]; then (.*?); else touch (\S+); (.*?); fi")


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
    for part in (p.strip() for p in script.split(";")):
        if part.startswith("sleep "):
            time.sleep(float(part[6:]))
        elif part.startswith("exit "):
            code = int(part[5:])
            if code:
                raise ScriptExit(f"exit code {code}")
            return None
        elif part in ("true", "") or part.startswith("echo "):
            continue
        else:
            raise ValueError(f"no Python form for {part!r}")
    return None
