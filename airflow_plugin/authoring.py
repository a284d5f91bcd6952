"""Grouped DAGs written by hand: ``group``/``member`` inside ``with DAG(...)``.

::

    from airflow.sdk import DAG
    from groupplug.airflow import group, member

    with DAG("train_job", schedule=None):
        with group("train", lead="master", barrier_timeout=600) as train:
            member("master", "python train.py --rank 0", setup="./pull_image.sh")
            member("worker-1", "python train.py --rank 1", setup="./pull_image.sh")
        with group("evaluate") as evaluate:
            member("score", "python score.py")
        train >> evaluate

The same rules as the YAML front door apply (validated when the outermost group ends, errors
naming the field and the fix); the groups render into the DAG through
:func:`groupplug.airflow.render.render_into`, so hand-written and YAML DAGs are the same.
A member runs a shell command (``bash_command``), so its group can stop it (DESIGN section 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from groupplug import authoring
from groupplug.spec import Task

from ._compat import current_dag


class group(authoring.group):  # noqa: N801 - used like a function, as TaskGroup's decorator is
    """A groupplug group rendered as a ``TaskGroup``; ``gang=True`` for a gang (see barrier)."""

    def __init__(self, name: str, *, gang: bool = False, **kwargs: Any):
        super().__init__(name, **kwargs)
        self.gang = gang
        self._workflow: authoring.workflow | None = None
        self._dag: Any = None
        self.rendered: dict[str, Any] = {}

    def __enter__(self) -> group:
        if not authoring.authoring_stack():
            self._dag = current_dag()
            if self._dag is None:
                raise RuntimeError(f"groupplug.airflow.group({self.name!r}) must be used inside "
                                   "'with DAG(...)'")
            self._workflow = authoring.workflow(self._dag.dag_id.replace(".", "_"))
            self._workflow.__enter__()
            self._workflow.gang = set()  # type: ignore[attr-defined]
        return super().__enter__()  # type: ignore[return-value]

    def _close(self) -> None:
        super()._close()
        if self.gang:
            authoring.authoring_stack()[0].gang.add(self.name)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._workflow is None:
            return
        self._workflow.__exit__(exc_type, exc, tb)
        if exc_type is None:
            from .render import render_into

            gang = self._workflow.gang  # type: ignore[attr-defined]
            self.rendered = render_into(self._dag, self._workflow.spec, gang=gang)

    @property
    def gates(self) -> list[Any]:
        """The exit gates of this group and every group below it."""
        if not self.rendered:
            raise RuntimeError(f"group({self.name!r}) has no tasks until its 'with' block ends")
        return [r.gate for r in self.rendered.values()]

    @property
    def roots(self) -> list[Any]:
        if not self.rendered:
            raise RuntimeError(f"group({self.name!r}) has no tasks until its 'with' block ends")
        return [t for r in self.rendered.values() for t in r.roots]

    def __rshift__(self, other: Any) -> Any:
        targets = other.roots if isinstance(other, group) else other
        for gate in self.gates:
            gate >> targets
        return other

    def __rrshift__(self, other: Any) -> group:
        for task in other if isinstance(other, list) else [other]:
            task >> self.roots
        return self


def member(
    name: str,
    bash_command: str | None = None,
    *,
    setup: str | None = None,
    lead: bool = False,
    inputs: Iterable[str] = (),
    retries: int = 0,
    retry_delay: float = 0.0,
    directives: Mapping[str, Any] | None = None,
) -> Task:
    """Declare a member of the enclosing :class:`group`: its shell command and optional setup.

    ``member("simulate")`` with no command puts a task declared earlier in this group too.
    """
    return authoring.task(name, bash_command, setup=setup, lead=lead, inputs=inputs,
                          retries=retries, retry_delay=retry_delay, directives=directives)
