"""Audio rings in shared memory: single-producer single-consumer planar float32 (standard library only).

One segment holds two rings: ``in`` (client writes, worker reads) and ``out`` (worker writes,
client reads). Each ring header carries monotonically increasing 64-bit counters of frames
written (producer-owned) and read (consumer-owned), so ``available = write - read`` and
``space = capacity - available`` without locks. Samples are planar: channel ``c`` has its own
``capacity``-frame area, so the OBS side copies each plane with at most two ``memmove`` calls.
A table of the last ``BLOCKS`` pushes (start frame, frame count, timestamp in ns) lets the reader
recover the timestamp of any frame it reads.

Pushing never blocks: when the ring is full the block is refused and counted as an overrun.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Sequence
from typing import Any

from obs_faceswap.ipc.shm import Segment, SegmentView, align

MAGIC = b"OFSA"
LAYOUT_VERSION = 1
SEGMENT_HEADER = 128
RING_HEADER = 128
BLOCKS = 256
_BLOCK = 24  # start u64, frames u32, pad u32, timestamp i64
_SEG_FMT = "<4sIIIII"  # magic, layout, channels, capacity, sample_rate, worker_waiting
_OFF_WORKER_WAITING = 20
_OFF_CLIENT_WAITING = 24
# ring header words
_W = 0  # frames written (producer)
_R = 8  # frames read (consumer)
_NB = 16  # blocks written (producer)
_OVERRUNS = 24  # refused pushes (producer)



class AudioRings(SegmentView):
    """Two planar float32 rings in one segment; ``role`` 'client' pushes ``in`` and pulls ``out``."""

    worker_waiting_offset = _OFF_WORKER_WAITING
    client_waiting_offset = _OFF_CLIENT_WAITING

    def __init__(self, segment: Segment, *, role: str) -> None:
        super().__init__(segment, role=role)
        magic, layout, channels, capacity, rate, _ = struct.unpack_from(_SEG_FMT, segment.buf, 0)
        if magic != MAGIC or layout != LAYOUT_VERSION:
            raise ValueError(f"segment {segment.name} is not an audio channel of layout {LAYOUT_VERSION}")
        self.channels, self.capacity, self.sample_rate = channels, capacity, rate
        self.ring_size = align(RING_HEADER + BLOCKS * _BLOCK) + channels * capacity * 4
        if segment.size < SEGMENT_HEADER + 2 * self.ring_size:
            raise ValueError(f"segment {segment.name} is truncated")

    @classmethod
    def create(cls, sample_rate: int, channels: int, capacity_frames: int) -> AudioRings:
        if channels < 1 or channels > 8:
            raise ValueError("audio channels must be 1..8")
        if sample_rate < 1000:
            raise ValueError("sample rate must be at least 1000 Hz")
        capacity_frames = max(256, int(capacity_frames))
        ring = align(RING_HEADER + BLOCKS * _BLOCK) + channels * capacity_frames * 4
        seg = Segment.create(SEGMENT_HEADER + 2 * ring)
        struct.pack_into(_SEG_FMT, seg.buf, 0, MAGIC, LAYOUT_VERSION, channels, capacity_frames, sample_rate, 0)
        return cls(seg, role="client")

    # -- layout helpers -----------------------------------------------------------------------
    def _ring(self, direction: str) -> int:
        return SEGMENT_HEADER + (0 if direction == "in" else self.ring_size)

    def _u64(self, off: int) -> int:
        return struct.unpack_from("<Q", self.segment.buf, off)[0]

    def _set_u64(self, off: int, v: int) -> None:
        struct.pack_into("<Q", self.segment.buf, off, v)

    def plane_offset(self, direction: str, channel: int) -> int:
        return self._ring(direction) + align(RING_HEADER + BLOCKS * _BLOCK) + channel * self.capacity * 4

    def counters(self, direction: str) -> tuple[int, int]:
        """(frames written, frames read) of a ring."""
        r = self._ring(direction)
        return self._u64(r + _W), self._u64(r + _R)

    def available(self, direction: str) -> int:
        w, r = self.counters(direction)
        return w - r

    def space(self, direction: str) -> int:
        return self.capacity - self.available(direction)

    def overruns(self, direction: str) -> int:
        return self._u64(self._ring(direction) + _OVERRUNS)

    def reset(self, direction: str) -> None:
        """Drop everything unread in ``direction`` (consumer side: read := write)."""
        r = self._ring(direction)
        self._set_u64(r + _R, self._u64(r + _W))

    # -- producer -----------------------------------------------------------------------------
    def push(self, direction: str, planes: Sequence[Any], frames: int, timestamp: int = 0) -> bool:
        """Append ``frames`` frames (one address or bytes-like float32 buffer per channel).
        False (and an overrun counted) when the ring has no room; never blocks."""
        if frames <= 0:
            return True
        r = self._ring(direction)
        w, rd = self._u64(r + _W), self._u64(r + _R)
        if len(planes) != self.channels:
            raise ValueError(f"expected {self.channels} planes, got {len(planes)}")
        if not 0 <= w - rd <= self.capacity or frames > self.capacity - (w - rd):
            # full, or counters that no honest peer wrote: refuse (never write outside the ring)
            self._set_u64(r + _OVERRUNS, self._u64(r + _OVERRUNS) + 1)
            return False
        pos = w % self.capacity
        first = min(frames, self.capacity - pos)
        for c, plane in enumerate(planes):
            base = self.plane_offset(direction, c)
            self._copy_in(base + pos * 4, plane, 0, first)
            if first < frames:
                self._copy_in(base, plane, first * 4, frames - first)
        nb = self._u64(r + _NB)
        struct.pack_into("<QIIq", self.segment.buf, r + RING_HEADER + (nb % BLOCKS) * _BLOCK,
                         w, frames, 0, int(timestamp))
        self._set_u64(r + _NB, nb + 1)
        self._set_u64(r + _W, w + frames)  # publish last
        return True

    def _copy_in(self, dst_off: int, src: Any, src_byte: int, frames: int) -> None:
        n = frames * 4
        if isinstance(src, int):
            ctypes.memmove(self.segment.address + dst_off, src + src_byte, n)
        else:
            mv = memoryview(src).cast("B")
            self.segment.buf[dst_off:dst_off + n] = mv[src_byte:src_byte + n]

    # -- consumer -----------------------------------------------------------------------------
    def _sane(self, r: int, w: int, rd: int) -> bool:
        """Whether the counters describe at most one ring of data. If not (a forged or torn header),
        the consumer drops what is there (read := write) and goes on from the producer's position."""
        if 0 <= w - rd <= self.capacity:
            return True
        self._set_u64(r + _R, w)
        return False

    def timestamp_of(self, direction: str, frame: int) -> int | None:
        """Timestamp (ns) of frame number ``frame`` from the block table; None when it has aged out."""
        r = self._ring(direction)
        nb = self._u64(r + _NB)
        for k in range(min(nb, BLOCKS)):
            start, count, _, ts = struct.unpack_from("<QIIq", self.segment.buf,
                                                     r + RING_HEADER + ((nb - 1 - k) % BLOCKS) * _BLOCK)
            if start <= frame < start + count:
                return ts + (frame - start) * 1_000_000_000 // self.sample_rate
            if start + count <= frame:
                break
        return None

    def pull(self, direction: str, frames: int, out: Sequence[int] | None = None
             ) -> tuple[list[bytes] | None, int | None] | None:
        """Take exactly ``frames`` frames, or None when fewer are available (never blocks).

        With ``out`` (one address per channel) samples are copied there and the first element of
        the result is None; otherwise it is a list of one ``bytes`` per channel. The second element
        is the timestamp (ns) of the first frame, when known."""
        r = self._ring(direction)
        w, rd = self._u64(r + _W), self._u64(r + _R)
        if not self._sane(r, w, rd) or frames <= 0 or frames > self.capacity or w - rd < frames:
            return None
        ts = self.timestamp_of(direction, rd)
        pos = rd % self.capacity
        first = min(frames, self.capacity - pos)
        result: list[bytes] | None = None if out is not None else []
        for c in range(self.channels):
            base = self.plane_offset(direction, c)
            a, b = base + pos * 4, base + (pos + first) * 4
            if out is not None:
                ctypes.memmove(out[c], self.segment.address + a, first * 4)
                if first < frames:
                    ctypes.memmove(out[c] + first * 4, self.segment.address + base, (frames - first) * 4)
            else:
                chunk = bytes(self.segment.buf[a:b])
                if first < frames:
                    chunk += bytes(self.segment.buf[base:base + (frames - first) * 4])
                assert result is not None
                result.append(chunk)
        self._set_u64(r + _R, rd + frames)
        return result, ts

    def read_views(self, direction: str) -> tuple[int, list[tuple[int, int]]]:
        """Consumer helper for the worker: (read counter, [(byte offset, frames)] contiguous runs of
        everything available, at most two). Commit with ``advance``."""
        r = self._ring(direction)
        w, rd = self._u64(r + _W), self._u64(r + _R)
        if not self._sane(r, w, rd):
            return w, [(w % self.capacity, 0)]
        n = w - rd
        pos = rd % self.capacity
        first = min(n, self.capacity - pos)
        runs = [(pos, first)]
        if first < n:
            runs.append((0, n - first))
        return rd, runs

    def advance(self, direction: str, frames: int) -> None:
        r = self._ring(direction)
        self._set_u64(r + _R, self._u64(r + _R) + frames)
