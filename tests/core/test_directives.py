"""Directive typing, per-member resolution and group aggregation (DESIGN section 5)."""

from __future__ import annotations

import pytest

from groupplug.directives import aggregate, is_serial, memory_gb, walltime_hours
from groupplug.spec import Group, Task, freeze


@pytest.mark.parametrize(
    ("raw", "gb"), [(16, 16.0), (0.5, 0.5), ("16GB", 16.0), ("512MB", 0.5), ("1TB", 1024.0),
                    ("2 Gi", 2.0), ("8", 8.0)],
)
def test_memory_in_gb(raw, gb):
    assert memory_gb(raw) == gb


@pytest.mark.parametrize(
    ("raw", "hours"), [(2, 2.0), (0.25, 0.25), ("1h30m", 1.5), ("90m", 1.5), ("2:30:00", 2.5),
                       ("1:30", 1.5), ("1d", 24.0), ("45s", 0.0125)],
)
def test_walltime_in_hours(raw, hours):
    assert walltime_hours(raw) == pytest.approx(hours)


@pytest.mark.parametrize("raw", ["lots", -1, True, "16XB", None])
def test_bad_memory(raw):
    with pytest.raises(ValueError, match="memory must be"):
        memory_gb(raw)


@pytest.mark.parametrize("raw", ["soon", 0, "0m", "1 fortnight", "h", None])
def test_bad_walltime(raw):
    with pytest.raises(ValueError, match="walltime must be"):
        walltime_hours(raw)


def member(name, inputs=(), **directives):
    return Task(name, "true", inputs=tuple(inputs), directives=freeze(directives))


def test_group_value_replaces_the_members_own_per_key():
    sim = member("simulate", ngpu=1, np=4)
    group = Group("ex", (sim, member("plot")), directives=freeze({"simulate": {"ngpu": 2}}))
    assert group.member_directives(sim) == {"ngpu": 2, "np": 4}
    assert Group("nightly", (sim,)).member_directives(sim) == {"ngpu": 1, "np": 4}


def test_parallel_members_sum_resources_and_take_the_longest_walltime():
    group = Group("train", (member("a", ngpu=1, memory=16.0, walltime=2.0),
                            member("b", ngpu=1, memory=8.0, walltime=1.0), member("c", np=2)))
    assert not is_serial(group)
    assert aggregate(group) == {"np": 2, "ngpu": 2, "memory": 24.0, "walltime": 2.0}


def test_serial_members_take_the_max_resources_and_sum_walltime():
    group = Group("chain", (member("a", ngpu=2, walltime=1.0),
                            member("b", ["a"], ngpu=1, walltime=0.5),
                            member("c", ["b"], ngpu=1, walltime=0.25)), barrier=False)
    assert is_serial(group)
    assert aggregate(group) == {"ngpu": 2, "walltime": 1.75}


def test_barrier_groups_always_run_members_together():
    group = Group("b", (member("a", ngpu=2), member("b", ngpu=1)), barrier=True)
    assert aggregate(group) == {"ngpu": 3}


def test_partial_chain_is_parallel_with_critical_path_walltime():
    group = Group("mix", (member("a", ngpu=1, walltime=1.0), member("b", ["a"], walltime=2.0),
                          member("c", ngpu=1, walltime=2.5)), barrier=False)
    assert not is_serial(group)
    assert aggregate(group) == {"ngpu": 2, "walltime": 3.0}
