"""Audio rings: wrap-around, 64-bit counters, timestamps, overruns, pointer I/O."""

from __future__ import annotations

import array
import ctypes

import pytest

from obs_faceswap.ipc.audio import AudioRings


@pytest.fixture
def ring():
    r = AudioRings.create(48000, 2, 1000)
    yield r
    r.segment.unlink()
    r.close()


def _planes(start: int, n: int) -> list[bytes]:
    left = array.array("f", [float(start + i) for i in range(n)])
    right = array.array("f", [-float(start + i) for i in range(n)])
    return [left.tobytes(), right.tobytes()]


def test_fifo_order_across_many_wraps(ring: AudioRings) -> None:
    pos = 0
    pulled = 0
    for _ in range(40):  # 40 x 480 frames through a 1000-frame ring: wraps many times
        assert ring.push("in", _planes(pos, 480), 480, timestamp=10**9 + pos * 1_000_000_000 // 48000)
        pos += 480
        got = ring.pull("in", 480)
        assert got is not None
        planes, ts = got
        left = array.array("f", planes[0])
        right = array.array("f", planes[1])
        assert list(left) == [float(pulled + i) for i in range(480)]
        assert list(right) == [-float(pulled + i) for i in range(480)]
        assert ts == 10**9 + pulled * 1_000_000_000 // 48000
        pulled += 480
    assert ring.counters("in") == (pos, pos)


def test_full_ring_refuses_and_counts_never_blocks(ring: AudioRings) -> None:
    assert ring.push("in", _planes(0, 600), 600)
    assert not ring.push("in", _planes(600, 600), 600)  # only 400 frames of room
    assert ring.overruns("in") == 1
    assert ring.pull("in", 700) is None  # underrun: not enough
    planes, _ = ring.pull("in", 600)
    assert array.array("f", planes[0])[-1] == 599.0


def test_timestamp_inside_a_block_is_interpolated(ring: AudioRings) -> None:
    ring.push("in", _planes(0, 480), 480, timestamp=5_000_000_000)
    ring.pull("in", 240)
    assert ring.timestamp_of("in", 240) == 5_000_000_000 + 5_000_000  # 240 frames at 48 kHz = 5 ms
    _, ts = ring.pull("in", 240)
    assert ts == 5_005_000_000


def test_pointer_push_and_pull(ring: AudioRings) -> None:
    src = [(ctypes.c_float * 300)(*[float(i) for i in range(300)]), (ctypes.c_float * 300)(*[0.5] * 300)]
    for _ in range(5):  # crosses the end of the ring
        assert ring.push("out", [ctypes.addressof(s) for s in src], 300, 1)
        dst = [(ctypes.c_float * 300)(), (ctypes.c_float * 300)()]
        planes, _ = ring.pull("out", 300, out=[ctypes.addressof(d) for d in dst])
        assert planes is None
        assert list(dst[0]) == [float(i) for i in range(300)] and set(dst[1]) == {0.5}
