"""Task ids groupplug gives a rendered group: the contract the gate, the runner and the view read.

Inside the TaskGroup of a group (id = group name; nested TaskGroups get Airflow's ``parent.child``
prefix, so a group's prefix is its dotted groupplug path):

- ``<prefix>.<task>``            the member itself: the operator written in the block, or a
                                 ``ShellOperator`` for a shell member; a mapped member's
                                 instances are reported as ``<task>[<map index>]``
- ``<prefix>.<task>__setup``     the member's setup, before the barrier (``GroupSetupOperator``);
                                 every member of a barrier group has one, so arrival is recorded
- ``<prefix>.__barrier__``       the deferrable barrier (barrier groups of 2+ members)
- ``<prefix>.__gate__``          the exit gate: computes the group state, pushes XCom
                                 ``groupplug_status``, fails when the group failed
Tasks outside any group (singleton groups) get no TaskGroup: ``<task>``, ``<task>__setup`` and
the gate ``<task>__gate__``.
"""

from __future__ import annotations

SETUP_SUFFIX = "__setup"
BARRIER = "__barrier__"
GATE = "__gate__"

XCOM_MEMBER = "groupplug_member"
XCOM_SETUP = "groupplug_setup"
XCOM_BARRIER = "groupplug_barrier"
XCOM_STATUS = "groupplug_status"
XCOM_TRY = "groupplug_try"
XCOM_GANG = "groupplug_gang_arrived"
XCOM_ARRIVED = "groupplug_arrived"  # a member's arrival at a re-formed barrier (epoch >= 1)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def main_id(prefix: str, task: str) -> str:
    return _join(prefix, task)


def setup_id(prefix: str, task: str) -> str:
    return _join(prefix, task + SETUP_SUFFIX)


def barrier_id(prefix: str) -> str:
    return _join(prefix, BARRIER)


def gate_id(prefix: str, group: str) -> str:
    """The gate of the group at ``prefix`` (``""`` for a singleton group named ``group``)."""
    return _join(prefix, GATE) if prefix else group + GATE
