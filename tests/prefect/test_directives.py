"""Directives to Prefect task options: mapped, reported, or an error naming the key."""

from __future__ import annotations

import logging

import pytest

from groupplug.exceptions import GroupplugValueError
from groupplug.prefect.directives import task_options


def test_walltime_and_tags_become_task_options():
    options = task_options({"walltime": 1.5, "tags": ("gpu",)}, where="train.master")
    assert options == {"timeout_seconds": 5400.0, "tags": ["gpu"]}


def test_unmapped_keys_are_reported_not_dropped(caplog):
    with caplog.at_level(logging.WARNING):
        assert task_options({"ngpu": 2, "memory": 4}, where="train.worker") == {}
    assert "train.worker" in caplog.text and "ngpu, memory" in caplog.text


def test_unknown_key_is_an_error_naming_the_field():
    with pytest.raises(GroupplugValueError, match=r"train\.master\.directives\.cpus"):
        task_options({"cpus": 4}, where="train.master")
