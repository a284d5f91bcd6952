"""The in-memory channel: a post wakes the readers of that box, cursors never repeat a message."""

from __future__ import annotations

import threading
import time

from groupplug.prefect.channel import ChannelSpec, InMemoryChannel


def test_reader_wakes_on_its_box_and_reads_each_message_once():
    spec = ChannelSpec("memory")
    channel = spec.open()
    assert spec.open() is channel, "members and the subflow share one channel per key"
    cursor: dict[str, int] = {}
    got = []
    reader = threading.Thread(target=lambda: got.extend(channel.read(["cmd0"], cursor, 5)))
    reader.start()
    time.sleep(0.1)
    channel.post("ev1", {"kind": "arrived"})  # another box: the reader keeps waiting
    time.sleep(0.1)
    assert reader.is_alive()
    channel.post("cmd0", {"op": "release"})
    reader.join(2)
    assert got == [("cmd0", {"op": "release"})]
    assert channel.read(["cmd0"], cursor, 0) == []
    assert channel.read(["ev1", "cmd0"], {}, 0) == [("ev1", {"kind": "arrived"}),
                                                    ("cmd0", {"op": "release"})]
    channel.close()
    assert spec.open() is not channel


def test_read_times_out_empty():
    channel = InMemoryChannel()
    start = time.monotonic()
    assert channel.read(["x"], {}, 0.2) == []
    assert time.monotonic() - start >= 0.19
