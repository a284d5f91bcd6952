"""The one place that knows where Airflow 3 keeps what groupplug uses.

Why a module: Airflow 3 moved the authoring API to ``airflow.sdk`` (Task SDK) and forbids tasks
and triggers to touch the metadata database; everything a running groupplug task needs (peer
states, XCom) goes through ``RuntimeTaskInstance`` and the execution API. Keeping these imports
here means one file changes when Airflow moves them again.
"""

from __future__ import annotations

from typing import Any

from groupplug.exceptions import MissingExtraError

#: The exceptions a task raises: ``airflow.sdk.exceptions`` from Airflow 3.2 on, ``airflow.
#: exceptions`` (airflow-core) in 3.1. Resolved on first use (``from ._compat import
#: AirflowFailException``) so that importing this module never imports Airflow.
_TASK_EXCEPTIONS = frozenset({"AirflowException", "AirflowFailException",
                              "AirflowSkipException", "TaskDeferred"})


def __getattr__(name: str) -> Any:
    if name not in _TASK_EXCEPTIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    try:
        return getattr(importlib.import_module("airflow.sdk.exceptions"), name)
    except AttributeError:  # Airflow 3.1: the SDK module exists but these live in the core
        return getattr(importlib.import_module("airflow.exceptions"), name)


def require_airflow() -> None:
    """Raise :class:`MissingExtraError` (naming ``pip install 'groupplug[airflow]'``) if absent."""
    import importlib.util

    # find_spec of the top package only (a submodule's would import the package): importing
    # Airflow reads, and may create, its config and logs under ~/airflow.
    if importlib.util.find_spec("airflow") is None:
        raise MissingExtraError("airflow", "apache-airflow")


def current_dag():  # noqa: ANN201 - airflow.sdk.DAG | None, imported lazily
    """The DAG of the enclosing ``with DAG(...)`` block, or None."""
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    return DagContext.get_current()


def is_mapped(op: Any) -> bool:
    """Whether ``op`` is an ``.expand()``ed task (Airflow 3 moved MappedOperator to the SDK)."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    return isinstance(op, MappedOperator)


def operator_retries(op: Any) -> int:
    """An operator's retries; a mapped one keeps them among its partial kwargs."""
    if is_mapped(op):
        return op.partial_kwargs.get("retries") or 0
    return op.retries or 0
