"""Directives to operator arguments: every key maps or is an error naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from groupplug.airflow.directives import operator_kwargs
from groupplug.exceptions import GroupplugValueError


def test_core_keys_map_to_native_arguments():
    kwargs = operator_kwargs({"np": 4, "ngpu": 2, "memory": 1.5, "walltime": 2.0},
                             where="groups[0].tasks[0]")
    assert kwargs["execution_timeout"] == timedelta(hours=2)
    assert kwargs["resources"] == {"cpus": 4, "gpus": 2, "ram": 1536}


def test_airflow_keys_pass_through_and_execution_timeout_wins_over_walltime():
    kwargs = operator_kwargs({"pool": "gpu", "pool_slots": 2, "queue": "q", "priority_weight": 5,
                              "retries": 3, "executor_config": {"k": 1},
                              "execution_timeout": 30.0, "walltime": 5.0}, where="t")
    assert kwargs == {"pool": "gpu", "pool_slots": 2, "queue": "q", "priority_weight": 5,
                      "retries": 3, "executor_config": {"k": 1},
                      "execution_timeout": timedelta(seconds=30)}


def test_unknown_key_is_an_error_naming_the_field_and_the_fix():
    with pytest.raises(GroupplugValueError) as info:
        operator_kwargs({"pool": "p", "nodes": 3}, where="groups[1].tasks[0]")
    text = str(info.value)
    assert "groups[1].tasks[0].directives.nodes" in text
    assert "no Airflow mapping" in text and "pool_slots" in text
