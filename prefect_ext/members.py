"""``member(name, command)`` and ``member(name, fn=...)``: members that are not ``@task`` calls.

A shell command is one kind of member, not a separate code path: it becomes a task named after
the member whose body runs ``sh -c command``, submitted in the block like any ``.submit()``, so
it joins the group, arrives, is stopped and restarted exactly as a Python member.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any

from .directives import task_options
from .live_group import LiveOptions


def run_shell(command: str) -> int:
    """Run ``command`` with ``sh -c``, its output in the task run's log; raise if it fails."""
    from prefect.logging import get_run_logger

    log = get_run_logger()
    # In a member's own process (the default) the shell stays in that process group, so the
    # group's stop kills it too; in a thread it gets a session of its own, killed on the way out.
    own_group = os.getpgid(0) == os.getpid()
    proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=not own_group)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("%s", line.rstrip("\n"))
        while proc.poll() is None:  # a Python-level wait: an injected stop can interrupt it
            time.sleep(0.05)
    finally:
        if proc.poll() is None and not own_group:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"command failed (exit {proc.returncode}): {command}")
    return 0


def submit_member(name: str, command: str | None, fn: Callable[[], Any] | None,
                  setup: str | None, setup_fn: Callable[[], Any] | None, options: LiveOptions,
                  retries: int, retry_delay: float, directives: Mapping[str, Any] | None,
                  where: str) -> Any:
    """Submit the member's task in the current block (it joins the group like any submit)."""
    from prefect import task

    from groupplug.directives import directive_types, normalise

    if setup is not None or setup_fn is not None:
        options.setup[name] = setup_fn or functools.partial(run_shell, setup)
    good, problems = normalise(dict(directives or {}), directive_types())
    if problems:
        from groupplug.exceptions import GroupplugValueError, Problem

        raise GroupplugValueError([Problem(f"member({name!r}).directives.{key}", why)
                                   for key, why in problems.items()])
    extra = task_options(good, where=where)
    retries = int(good.get("retries", retries))
    if command is not None:
        made = task(name=name, retries=retries, retry_delay_seconds=retry_delay,
                    **extra)(run_shell)
        return made.submit(command)
    assert fn is not None
    made = task(name=name, retries=retries, retry_delay_seconds=retry_delay, **extra)(fn)
    return made.submit()
