"""The barrier protocol over the in-memory store, with real threads."""

from __future__ import annotations

import threading
import time

import pytest

from groupplug.barrier import Barrier, InMemoryBarrierStore, barrier_released, missing_members
from groupplug.exceptions import BarrierTimeout


def test_release_rule():
    assert not barrier_released(["a", "b"], {"a"}, set())
    assert barrier_released(["a", "b"], {"a"}, {"b"})
    assert not barrier_released(["a", "b"], set(), {"a", "b"}), "nobody arrived: no release"
    assert missing_members(["a", "b", "c"], {"b"}, {"c"}) == ["a"]


def test_threads_are_held_until_the_last_arrives():
    barrier = Barrier("train", ["a", "b", "c"], InMemoryBarrierStore())
    passed: list[tuple[str, float]] = []
    last_arrival = []

    def member(name: str, delay: float) -> None:
        time.sleep(delay)
        if delay == 0.3:
            last_arrival.append(time.monotonic())
        barrier.wait(name)
        passed.append((name, time.monotonic()))

    threads = [threading.Thread(target=member, args=a) for a in (("a", 0), ("b", 0.1), ("c", 0.3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(n for n, _ in passed) == ["a", "b", "c"]
    assert all(t >= last_arrival[0] for _, t in passed), "someone passed before c arrived"


def test_epochs_keep_stale_arrivals_out():
    store = InMemoryBarrierStore()
    barrier = Barrier("train", ["a", "b"], store)
    barrier.arrive("a", epoch=0)
    barrier.arrive("b", epoch=0)
    assert barrier.released(0)
    barrier.arrive("a", epoch=1)
    assert not barrier.released(1) and barrier.missing(1) == ["b"]


def test_timeout_names_the_missing_members():
    barrier = Barrier("train", ["lead", "worker-3", "worker-4"], InMemoryBarrierStore(),
                      timeout=0.2)
    barrier.arrive("worker-4")
    with pytest.raises(BarrierTimeout) as info:
        barrier.wait("lead")
    assert str(info.value) == (
        'BarrierTimeout: group "train" waited 0.2s; not arrived: worker-3')


def test_leaving_unblocks_the_others_and_delete_forgets():
    store = InMemoryBarrierStore()
    barrier = Barrier("train", ["a", "b"], store, timeout=2)
    threading.Timer(0.1, barrier.leave, args=("b",)).start()
    barrier.wait("a")
    store.delete("train")
    assert store.snapshot("train", 0) == (frozenset(), frozenset())


def test_unknown_member_is_an_error_naming_the_members():
    with pytest.raises(ValueError, match="'z' is not a member of barrier 'train'; members: a, b"):
        Barrier("train", ["a", "b"], InMemoryBarrierStore()).arrive("z")
