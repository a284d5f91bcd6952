"""The barrier rule as data (releases themselves are tested through the status engine and the
conformance table)."""

from __future__ import annotations

from groupplug.barrier import barrier_released, missing_members


def test_release_rule():
    assert not barrier_released(["a", "b"], {"a"}, set())
    assert barrier_released(["a", "b"], {"a"}, {"b"})
    assert not barrier_released(["a", "b"], set(), {"a", "b"}), "nobody arrived: no release"
    assert missing_members(["a", "b", "c"], {"b"}, {"c"}) == ["a"]
