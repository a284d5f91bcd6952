"""A member body's forked process: what it inherits from the (multi-threaded) parent."""

from __future__ import annotations

import os


def _open_descriptors() -> list[int]:
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def test_a_forked_body_keeps_no_descriptor_of_its_parent_but_its_own_pipe():
    from groupplug.prefect._work import ForkedWork

    # Another member's shell output pipe, open in the parent when this member forks: a copy
    # kept in the child hid that pipe's end, so the other member read until this one died.
    read_end, write_end = os.pipe()
    try:
        work = ForkedWork(_open_descriptors, (), {})
        message = None
        while message is None:
            message = work.next_message(10)
        kind, inherited = message
    finally:
        os.close(read_end)
        os.close(write_end)
    assert kind == "ok"
    assert write_end not in inherited and read_end not in inherited
    # stdin/stdout/stderr, its own pipe to the parent, and the listing's own descriptor
    assert len([fd for fd in inherited if fd > 2]) <= 2, inherited
