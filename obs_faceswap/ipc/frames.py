"""Video frame channel in one shared-memory segment (standard library only).

Layout: a 256-byte channel header, then one pool of ``n_slots`` (>= 5) slots shared by both
directions. A slot is a 128-byte header plus ``capacity`` bytes of pixels, planes stored with the
caller's strides. The header carries, besides geometry and sequence, the frame's YUV->RGB colour
matrix (OBS ``obs_source_frame.color_matrix``: range and coefficients) when it has one.

A frame makes one trip through one slot, with no copy inside the worker:

* the client picks a free slot and writes the input into it, then publishes it as ``in`` latest;
* the worker claims it (``in`` held), processes it **in place** (zero-copy numpy views; the
  result overwrites the input in the same format) and publishes the same slot as ``out`` latest;
* the client claims it (``out`` held) and uploads straight from it; the slot is free again once
  it is none of the four words below.

Protocol (latest wins; only the client allocates slots, so each slot has one writer at a time):

* ``latest`` per direction is written by that direction's writer (client for ``in``, worker for
  ``out``); ``held`` per direction by that direction's reader (worker for ``in``, client for ``out``).
  Each slot has a seqlock ``version`` (odd while being written).
* Client writer: pick a slot that is none of ``in``/``out`` ``latest``/``held``; make its version
  odd; re-read both ``held`` words and back off if a reader just took it; write pixels + header;
  version even; publish ``in`` latest. Four words name at most four slots, so with >= 5 slots a
  free one always exists and the writer never waits.
* Reader: read ``latest`` and its version, set ``held``, re-read the version: unchanged means no
  writer touches the slot until ``held`` moves. Older unread slots are simply reused (dropped);
  results carry the sequence number of their input.
* Worker: ``begin_in_place`` (version odd) on the slot it holds, write the result, then
  ``commit_write('out', ...)`` (version even, ``out`` latest) and release ``in``.
* Wake-ups: the reader may set ``waiting`` before it sleeps; a writer that sees it clears it and
  wakes it (FIFO byte or control message; at most one in flight), so the reader neither spins
  nor misses frames (it also wakes on a short timeout).
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from obs_faceswap.ipc.plane_copy import copy_plane
from obs_faceswap.ipc.regions import (
    CHANGED,
    IS_REGION,
    NO_RECT,
    REGION_FMT,
    REGION_OFFSET,
    Rect,
    RegionHeader,
    changed_problem,
    region_problem,
)
from obs_faceswap.ipc.shm import Segment, SegmentView, align

# pixel formats (values are part of the protocol)
BGRA, RGBA, BGRX, BGR, I420, NV12, YUY2 = 1, 2, 3, 4, 5, 6, 7
FORMAT_NAMES: dict[int, str] = {BGRA: "BGRA", RGBA: "RGBA", BGRX: "BGRX", BGR: "BGR", I420: "I420",
                                NV12: "NV12", YUY2: "YUY2"}
FORMATS: dict[str, int] = {v: k for k, v in FORMAT_NAMES.items()}

MAGIC = b"OFSV"
LAYOUT_VERSION = 3  # 2: one slot pool shared by both directions (in-place results), colour matrix in headers;
# 3: region frames (a downscaled whole frame plus a full-resolution crop: ipc/regions.py)
CHANNEL_HEADER = 256
SLOT_HEADER = 192
DEFAULT_SLOTS = 5
MIN_SLOTS = 5  # in latest, in held, out latest, out held, and one free for the client writer

# channel header: magic, layout, n_slots, reserved, capacity, slot_size, then int32 control words
_CH_FMT = "<4sIIIQQ"
_OFF_IN_LATEST = 64  # i32, written by the client
_OFF_IN_HELD = 68  # i32, written by the worker
_OFF_OUT_LATEST = 72  # i32, written by the worker
_OFF_OUT_HELD = 76  # i32, written by the client
_OFF_WORKER_WAITING = 80  # u32: worker sleeps waiting for input
_OFF_CLIENT_WAITING = 84  # u32: client sleeps waiting for a result
_OFF_SETTINGS_GEN = 88  # u32, written by the client: its settings generation (see VideoChannel.update)
# slot header: version, seq, timestamp, width, height, fmt, nplanes, stride0..2, offset1, offset2, nbytes,
# submit_ns (the client's time.monotonic_ns() at submit; the worker copies it into the result),
# color flags (bit 0: a colour matrix follows), then 12 float32: rows R, G, B of the YUV->RGB matrix
# (OBS ``color_matrix`` layout, values in 0..1: R = m0*Y + m1*U + m2*V + m3); 128 bytes, then the region
# block (``regions.REGION_FMT`` at ``regions.REGION_OFFSET``; flags 0: a plain frame)
_SLOT_FMT = "<QQqIIIIIIIIIQqI12f"
_SLOT_TAIL = "<QqIIIIIIIIIQqI12f"  # everything after the version
_COLOR_MATRIX = 1
assert struct.calcsize(_SLOT_FMT) <= REGION_OFFSET and REGION_OFFSET + struct.calcsize(REGION_FMT) <= SLOT_HEADER

_LATEST = {"in": _OFF_IN_LATEST, "out": _OFF_OUT_LATEST}
_HELD = {"in": _OFF_IN_HELD, "out": _OFF_OUT_HELD}
_ALL_WORDS = (_OFF_IN_LATEST, _OFF_IN_HELD, _OFF_OUT_LATEST, _OFF_OUT_HELD)

# luma coefficients (Kr, Kb) of the colour spaces OBS uses
COLOR_SPACES: dict[str, tuple[float, float]] = {"601": (0.299, 0.114), "709": (0.2126, 0.0722),
                                                "2020": (0.2627, 0.0593)}


def color_matrix(space: str = "709", full_range: bool = False) -> tuple[float, ...]:
    """The 4x4 YUV->RGB matrix (16 floats, row-major, OBS ``obs_source_frame.color_matrix`` layout)
    of 8-bit ``space`` ('601', '709', '2020') in full (0-255) or limited (16-235/240) range."""
    if space not in COLOR_SPACES:
        raise ValueError(f"unknown colour space {space!r}; use one of {', '.join(COLOR_SPACES)}")
    kr, kb = COLOR_SPACES[space]
    kg = 1.0 - kr - kb
    ys, cs = (1.0, 1.0) if full_range else (255.0 / 219.0, 255.0 / 224.0)
    y0 = 0.0 if full_range else 16.0 / 255.0
    c0 = 128.0 / 255.0
    rv, bu = 2.0 * (1.0 - kr) * cs, 2.0 * (1.0 - kb) * cs
    gu, gv = -bu * kb / kg, -rv * kr / kg
    rows = ((ys, 0.0, rv), (ys, gu, gv), (ys, bu, 0.0))
    out: list[float] = []
    for a, b, c in rows:
        out += [a, b, c, -(a * y0 + b * c0 + c * c0)]
    return tuple(out + [0.0, 0.0, 0.0, 1.0])


def format_code(fmt: int | str) -> int:
    """Accept 'BGRA', 'i420', 5, ... and return the protocol's integer code."""
    if isinstance(fmt, str):
        code = FORMATS.get(fmt.upper())
        if code is None:
            raise ValueError(f"unknown pixel format {fmt!r}; use one of {', '.join(FORMATS)}")
        return code
    if int(fmt) not in FORMAT_NAMES:
        raise ValueError(f"unknown pixel format code {fmt!r}")
    return int(fmt)


def plane_layout(fmt: int, width: int, height: int, strides: Sequence[int] | int | None = None
                 ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Return (strides, rows, offsets) of each plane of a ``width`` x ``height`` frame, planes packed
    one after another. ``strides`` defaults to the tight row size; smaller strides are refused."""
    fmt = format_code(fmt)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    if fmt in (BGRA, RGBA, BGRX):
        mins, rows = (width * 4,), (height,)
    elif fmt == BGR:
        mins, rows = (width * 3,), (height,)
    elif fmt == YUY2:
        mins, rows = (cw * 4,), (height,)
    elif fmt == I420:
        mins, rows = (width, cw, cw), (height, ch, ch)
    else:  # NV12
        mins, rows = (width, cw * 2), (height, ch)
    if strides is None:
        st = mins
    elif isinstance(strides, int):
        st = (strides,) + tuple(mins[1:]) if len(mins) == 1 else (strides,) + tuple(
            max(m, strides // 2) if fmt == I420 else max(m, strides) for m in mins[1:])
    else:
        st = tuple(int(s) for s in strides)
        if len(st) != len(mins):
            raise ValueError(f"{FORMAT_NAMES[fmt]} has {len(mins)} planes, got {len(st)} strides")
    for s, m in zip(st, mins, strict=True):
        if s < m:
            raise ValueError(f"stride {s} is smaller than a {FORMAT_NAMES[fmt]} row of width {width} ({m})")
    offs = []
    pos = 0
    for s, r in zip(st, rows, strict=True):
        offs.append(pos)
        pos += s * r
    return st, rows, tuple(offs)


def frame_nbytes(fmt: int, width: int, height: int, strides: Sequence[int] | int | None = None) -> int:
    st, rows, offs = plane_layout(fmt, width, height, strides)
    return offs[-1] + st[-1] * rows[-1]


SUBSAMPLED = (I420, NV12, YUY2)


def plane_boxes(fmt: int, rect: Rect) -> tuple[tuple[int, int, int, int], ...]:
    """The bytes of each plane that hold the pixels of ``rect``: (first byte of a row, bytes per row,
    first row, rows) per plane. Chroma covers the 2x2 (YUY2: 2x1) blocks ``rect`` touches."""
    x, y, w, h = rect.x, rect.y, rect.w, rect.h
    cx0, cx1 = x // 2, (x + w + 1) // 2
    cy0, cy1 = y // 2, (y + h + 1) // 2
    if fmt in (BGRA, RGBA, BGRX):
        return ((x * 4, w * 4, y, h),)
    if fmt == BGR:
        return ((x * 3, w * 3, y, h),)
    if fmt == YUY2:
        return ((cx0 * 4, (cx1 - cx0) * 4, y, h),)
    if fmt == I420:
        return ((x, w, y, h), (cx0, cx1 - cx0, cy0, cy1 - cy0), (cx0, cx1 - cx0, cy0, cy1 - cy0))
    if fmt == NV12:
        return ((x, w, y, h), (cx0 * 2, (cx1 - cx0) * 2, cy0, cy1 - cy0))
    raise ValueError(f"unknown pixel format code {fmt!r}")


@dataclass
class SlotHeader:
    version: int
    seq: int
    timestamp: int
    width: int
    height: int
    fmt: int
    nplanes: int
    strides: tuple[int, ...]
    offsets: tuple[int, ...]
    nbytes: int
    submit_ns: int
    color: tuple[float, ...] | None = None  # 12 floats (rows R, G, B of the YUV->RGB matrix) or None
    region: RegionHeader | None = None  # a region frame: the main image is the whole frame downscaled
    changed: Rect | None = None  # a plain frame's result: only this rectangle changed (None: not said)


def _color12(matrix: Sequence[float] | None) -> tuple[float, ...] | None:
    if matrix is None:
        return None
    m = tuple(float(x) for x in matrix)
    if len(m) not in (12, 16):
        raise ValueError(f"a colour matrix has 12 or 16 values, got {len(m)}")
    if not any(m[:12]):
        return None  # OBS leaves it zero for RGB frames
    return m[:12]


class FrameChannel(SegmentView):
    """A mapped video channel segment. Both sides use this class; ``role`` is 'client' or 'worker'."""

    worker_waiting_offset = _OFF_WORKER_WAITING
    client_waiting_offset = _OFF_CLIENT_WAITING

    def __init__(self, segment: Segment, *, role: str) -> None:
        super().__init__(segment, role=role)
        buf = segment.buf
        if segment.size < CHANNEL_HEADER:
            raise ValueError("segment too small for a frame channel")
        magic, layout, n_slots, _, capacity, slot_size = struct.unpack_from(_CH_FMT, buf, 0)
        if magic != MAGIC or layout != LAYOUT_VERSION:
            raise ValueError(f"segment {segment.name} is not a frame channel of layout {LAYOUT_VERSION}")
        if segment.size < CHANNEL_HEADER + n_slots * slot_size or n_slots < MIN_SLOTS:
            raise ValueError(f"segment {segment.name} is truncated")
        if slot_size < SLOT_HEADER + capacity:
            raise ValueError(f"segment {segment.name} has slots smaller than its capacity")
        self.n_slots, self.capacity, self.slot_size = n_slots, capacity, slot_size
        self.refused_headers = 0  # slots whose header did not fit the segment (see ``header_problem``)

    # -- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, capacity: int, *, slots: int = DEFAULT_SLOTS) -> FrameChannel:
        """Create a new segment (client side) able to hold frames of up to ``capacity`` bytes."""
        if slots < MIN_SLOTS:
            raise ValueError(f"a frame channel needs at least {MIN_SLOTS} slots")
        capacity = max(64, align(int(capacity)))
        slot_size = SLOT_HEADER + capacity
        seg = Segment.create(CHANNEL_HEADER + slots * slot_size)
        struct.pack_into(_CH_FMT, seg.buf, 0, MAGIC, LAYOUT_VERSION, slots, 0, capacity, slot_size)
        struct.pack_into("<iiiiII", seg.buf, _OFF_IN_LATEST, -1, -1, -1, -1, 0, 0)
        return cls(seg, role="client")

    # -- raw words ----------------------------------------------------------------------------
    def _i32(self, off: int) -> int:
        return struct.unpack_from("<i", self.segment.buf, off)[0]

    def _set_i32(self, off: int, v: int) -> None:
        struct.pack_into("<i", self.segment.buf, off, v)

    def slot_offset(self, direction: str, index: int) -> int:
        """Offset of slot ``index`` (one pool: the same slot serves both directions)."""
        return CHANNEL_HEADER + index * self.slot_size

    def data_offset(self, direction: str, index: int) -> int:
        return self.slot_offset(direction, index) + SLOT_HEADER

    def _version(self, direction: str, index: int) -> int:
        return struct.unpack_from("<Q", self.segment.buf, self.slot_offset(direction, index))[0]

    def _set_version(self, direction: str, index: int, v: int) -> None:
        struct.pack_into("<Q", self.segment.buf, self.slot_offset(direction, index), v)

    def header(self, direction: str, index: int) -> SlotHeader:
        v, seq, ts, w, h, fmt, npl, s0, s1, s2, o1, o2, nb, sub, flags, *m = struct.unpack_from(
            _SLOT_FMT, self.segment.buf, self.slot_offset(direction, index))
        npl = max(1, min(3, npl))
        color = tuple(m) if flags & _COLOR_MATRIX else None
        block = struct.unpack_from(REGION_FMT, self.segment.buf, self.slot_offset(direction, index) + REGION_OFFSET)
        region = RegionHeader.unpack(block)
        changed = Rect(*block[3:7]) if block[0] & CHANGED and not block[0] & IS_REGION else None
        return SlotHeader(v, seq, ts, w, h, fmt, npl, (s0, s1, s2)[:npl], (0, o1, o2)[:npl], nb, sub, color, region,
                          changed)

    # -- writer -------------------------------------------------------------------------------
    def latest(self, direction: str) -> int:
        return self._i32(_LATEST[direction])

    def held(self, direction: str) -> int:
        return self._i32(_HELD[direction])

    def settings_gen(self) -> int:
        """The client's settings generation: frames written after it need those settings applied."""
        return struct.unpack_from("<I", self.segment.buf, _OFF_SETTINGS_GEN)[0]

    def set_settings_gen(self, gen: int) -> None:
        struct.pack_into("<I", self.segment.buf, _OFF_SETTINGS_GEN, gen & 0xFFFFFFFF)

    def _busy(self) -> set[int]:
        return {self._i32(off) for off in _ALL_WORDS}

    def begin_write(self, direction: str = "in") -> int:
        """Reserve a free slot for writing an input (client only); returns its index, never blocks."""
        if direction != "in":
            raise ValueError("only the client allocates slots; the worker writes results in place")
        busy = self._busy()
        for i in range(self.n_slots):  # lowest free slot first: fewer distinct pages in flight
            if i in busy:
                continue
            v = self._version(direction, i)
            if v & 1:  # a writer that died mid-write left it odd: take it over
                v += 1
            self._set_version(direction, i, v + 1)
            if self._i32(_OFF_IN_HELD) == i or self._i32(_OFF_OUT_HELD) == i:  # a reader took it just now
                self._set_version(direction, i, v)
                continue
            return i
        raise RuntimeError(f"no free frame slot (the channel needs at least {MIN_SLOTS} slots)")

    def begin_in_place(self, index: int) -> None:
        """The worker starts writing its result over the input slot it holds (``claim('in')``)."""
        if self._i32(_OFF_IN_HELD) != index:
            raise RuntimeError("write in place only into the slot you hold")
        v = self._version("in", index)
        if not v & 1:
            self._set_version("in", index, v + 1)

    def commit_write(self, direction: str, index: int, *, seq: int, timestamp: int, width: int, height: int,
                     fmt: int, strides: Sequence[int], offsets: Sequence[int], nbytes: int,
                     submit_ns: int | None = None, color: Sequence[float] | None = None,
                     region: RegionHeader | None = None, changed: Rect | None = None) -> None:
        """Finish writing slot ``index`` and publish it as ``direction``'s latest. For 'out' (the
        worker's in-place result) the input slot is released at the same time. ``region``: the
        region block of a region frame (None: a plain frame). ``changed``: a plain frame's result
        differs from its input only inside this rectangle (``NO_RECT``: nowhere; None: not said)."""
        off = self.slot_offset(direction, index)
        v = self._version(direction, index)
        st = list(strides) + [0] * (3 - len(strides))
        of = list(offsets) + [0] * (3 - len(offsets))
        m = _color12(color)
        struct.pack_into(_SLOT_TAIL, self.segment.buf, off + 8, seq, timestamp, width, height,
                         fmt, len(strides), st[0], st[1], st[2], of[1], of[2], nbytes,
                         time.monotonic_ns() if submit_ns is None else submit_ns,
                         _COLOR_MATRIX if m else 0, *(m or (0.0,) * 12))
        if region is not None:
            block = region.pack()
        elif changed is not None:
            block = (CHANGED, width, height, changed.x, changed.y, changed.w, changed.h) + (0,) * 7
        else:
            block = (0,) * 14
        struct.pack_into(REGION_FMT, self.segment.buf, off + REGION_OFFSET, *block)
        self._set_version(direction, index, v + 1 if v & 1 else v + 2)
        self._set_i32(_LATEST[direction], index)
        if direction == "out" and self._i32(_OFF_IN_HELD) == index:
            self._set_i32(_OFF_IN_HELD, -1)

    def abort_write(self, direction: str, index: int) -> None:
        v = self._version(direction, index)
        if v & 1:
            self._set_version(direction, index, v + 1)

    def write_region_frame(self, small: int, width: int, height: int, stride: int, fmt: int, *, frame_w: int,
                           frame_h: int, seq: int, timestamp: int = 0, crop: int = 0, crop_rect: Rect = NO_RECT,
                           crop_stride: int = 0) -> int:
        """Copy one region frame in and publish it (client): the whole frame downscaled to ``width`` x
        ``height`` (address ``small``, ``stride`` bytes per row; 0 x 0: not sent this time) and, when
        ``crop_rect`` is not empty, that rectangle of the ``frame_w`` x ``frame_h`` frame at full
        resolution (address ``crop``, ``crop_stride`` bytes per row) stored after it. Returns the
        slot index."""
        if fmt not in (BGRA, RGBA, BGRX):
            raise ValueError(f"region frames are BGRA, RGBA or BGRX, not {FORMAT_NAMES.get(fmt, fmt)}")
        if (width <= 0 or height <= 0) and (width or height or crop_rect.empty):
            raise ValueError(f"a region frame needs a downscaled frame or a crop, got {width}x{height} and none")
        st, rows, offs = plane_layout(fmt, width, height, stride)
        small_bytes = st[0] * rows[0]
        crop_offset = align(small_bytes) if not crop_rect.empty and small_bytes else 0
        nbytes = crop_offset + crop_stride * crop_rect.h if not crop_rect.empty else small_bytes
        region = RegionHeader(frame_w, frame_h, crop_rect, crop_stride if not crop_rect.empty else 0, crop_offset)
        problem = region_problem(region, width, height, nbytes)
        if problem:
            raise ValueError(problem)
        if nbytes > self.capacity:
            raise ValueError(f"frame of {nbytes} bytes exceeds the channel capacity {self.capacity}")
        index = self.begin_write(direction="in")
        try:
            base = self.data_offset("in", index)
            if small_bytes:
                self._copy_in(base, small, small_bytes)
            if not crop_rect.empty:
                self._copy_in(base + crop_offset, crop, crop_stride * crop_rect.h)
        except BaseException:
            self.abort_write("in", index)
            raise
        self.commit_write("in", index, seq=seq, timestamp=timestamp, width=width, height=height, fmt=fmt,
                          strides=st, offsets=offs, nbytes=nbytes, region=region)
        return index

    def write_frame(self, direction: str, data: Any, width: int, height: int, strides: Sequence[int] | int | None,
                    fmt: int, *, seq: int, timestamp: int = 0, color: Sequence[float] | None = None) -> int:
        """Copy one input frame in (one ``memmove`` per plane) and publish it (client). ``data`` is an
        address (int), a bytes-like object, or a sequence of them (one per plane); ``color`` the
        frame's YUV->RGB matrix (16 or 12 floats, OBS layout) or None (BT.601 limited range).
        Returns the slot index."""
        st, rows, offs = plane_layout(fmt, width, height, strides)
        nbytes = offs[-1] + st[-1] * rows[-1]
        if nbytes > self.capacity:
            raise ValueError(f"frame of {nbytes} bytes exceeds the channel capacity {self.capacity}")
        _color12(color)  # validate before taking a slot
        index = self.begin_write(direction)
        try:
            base = self.data_offset(direction, index)
            if isinstance(data, (list, tuple)):
                if len(data) != len(st):
                    raise ValueError(f"{FORMAT_NAMES[fmt]} needs {len(st)} planes, got {len(data)}")
                for plane, s, r, o in zip(data, st, rows, offs, strict=True):
                    self._copy_in(base + o, plane, s * r)
            else:
                self._copy_in(base, data, nbytes)
        except BaseException:
            self.abort_write(direction, index)
            raise
        self.commit_write(direction, index, seq=seq, timestamp=timestamp, width=width, height=height, fmt=fmt,
                          strides=st, offsets=offs, nbytes=nbytes, color=color)
        return index

    def _copy_in(self, offset: int, src: Any, n: int) -> None:
        if isinstance(src, int):
            if not src:
                raise ValueError("NULL frame pointer")
            ctypes.memmove(self.segment.address + offset, src, n)
            return
        mv = memoryview(src)
        if not mv.c_contiguous:
            raise ValueError("frame buffer must be C-contiguous")
        mv = mv.cast("B")
        if mv.nbytes < n:
            raise ValueError(f"frame buffer has {mv.nbytes} bytes, {n} needed")
        self.segment.buf[offset:offset + n] = mv[:n]

    # -- reader -------------------------------------------------------------------------------
    def header_problem(self, hdr: SlotHeader) -> str:
        """Why a slot header read back from shared memory cannot be used, or "" when it fits: every
        plane (offset + stride x rows) inside ``nbytes``, ``nbytes`` inside the slot, strides no
        smaller than a row. The other side may be broken or hostile; nothing it writes may make us
        read or write outside the segment."""
        crop_only = hdr.region is not None and hdr.width == 0 and hdr.height == 0  # a region frame's crop alone
        try:
            _, rows, _ = plane_layout(hdr.fmt, hdr.width, hdr.height, hdr.strides)
        except (ValueError, KeyError, TypeError) as exc:
            return str(exc)
        if (hdr.width <= 0 or hdr.height <= 0) and not crop_only:
            return f"empty frame {hdr.width}x{hdr.height}"
        if not 0 <= hdr.nbytes <= self.capacity:
            return f"frame of {hdr.nbytes} bytes in a slot of {self.capacity}"
        for o, st, r in zip(hdr.offsets, hdr.strides, rows, strict=True):
            if o < 0 or o + st * r > hdr.nbytes:
                return f"plane at {o} with stride {st} x {r} rows runs past the frame's {hdr.nbytes} bytes"
        if hdr.region is not None:
            if hdr.fmt not in (BGRA, RGBA, BGRX):
                return f"a region frame in {FORMAT_NAMES.get(hdr.fmt, hdr.fmt)}"
            if crop_only and hdr.region.crop.empty:
                return "a region frame with neither a downscaled frame nor a crop"
            return region_problem(hdr.region, hdr.width, hdr.height, hdr.nbytes)
        if hdr.changed is not None:
            return changed_problem(hdr.changed, hdr.width, hdr.height, hdr.fmt in SUBSAMPLED)
        return ""

    def claim(self, direction: str, after_seq: int = -1) -> tuple[int, SlotHeader] | None:
        """Take the newest finished slot whose sequence is > ``after_seq``; None when there is none.
        The slot stays ours (no writer touches it) until the next ``claim`` or ``release``. A slot
        index outside the pool or a header that does not fit the segment is never taken (counted
        in ``refused_headers``): the writer's next good frame replaces it."""
        held_off = _HELD[direction]
        for _ in range(4):
            i = self.latest(direction)
            if i < 0:
                return None
            if i >= self.n_slots:
                self.refused_headers += 1
                return None
            hdr = self.header(direction, i)
            if hdr.version & 1 or hdr.seq <= after_seq:
                return None
            self._set_i32(held_off, i)
            if self._version(direction, i) == hdr.version and self.latest(direction) == i:
                if self.header_problem(hdr):
                    self._set_i32(held_off, -1)
                    self.refused_headers += 1
                    return None
                return i, hdr
            self._set_i32(held_off, -1)
        return None

    def still_valid(self, direction: str, index: int, version: int) -> bool:
        return self._version(direction, index) == version

    def release(self, direction: str) -> None:
        self._set_i32(_HELD[direction], -1)

    def reset_reader(self, direction: str) -> None:
        """The reader of ``direction`` died: forget what it held (called by the survivor)."""
        self._set_i32(_HELD[direction], -1)


@dataclass
class FrameView:
    """A finished frame inside shared memory (zero-copy). Valid until the next ``result()``/``release()``.

    ``planes`` are memoryviews; ``addresses`` are C pointers to each plane (for ``ctypes.memmove``
    or ``gs_texture_set_image``); ``strides`` the bytes per row of each plane.
    """

    seq: int
    timestamp: int
    width: int
    height: int
    fmt: int
    strides: tuple[int, ...]
    offsets: tuple[int, ...]
    nbytes: int
    submit_ns: int
    address: int
    planes: list[memoryview]
    is_new: bool
    _channel: FrameChannel
    _slot: int
    _version: int
    color: tuple[float, ...] | None = None  # the input's YUV->RGB matrix (12 floats), if it had one
    region: RegionHeader | None = None  # region frames: what the worker swapped and wants next (validated)
    changed: Rect | None = None  # plain frames: the only rectangle the worker changed (validated)

    @property
    def format_name(self) -> str:
        return FORMAT_NAMES.get(self.fmt, str(self.fmt))

    @property
    def addresses(self) -> list[int]:
        return [self.address + o for o in self.offsets]

    @property
    def stride(self) -> int:
        return self.strides[0]

    def tobytes(self) -> bytes:
        """A copy of all planes (packed as in shared memory)."""
        return bytes(self._channel.segment.buf[self._data_off:self._data_off + self.nbytes])

    @property
    def _data_off(self) -> int:
        return self.address - self._channel.segment.address

    def copy_to(self, dst: int | Sequence[int], dst_strides: Sequence[int] | None = None) -> int:
        """Copy into caller memory: one address (planes packed like ours) or one address per plane,
        with per-plane ``dst_strides`` (row by row when they differ from ours). When the worker said
        which rectangle it changed (``changed``) and ``dst`` is one address per plane (a frame of our
        size and format, e.g. OBS's), only that rectangle is copied: the rest of the caller's frame
        is not written. Returns the bytes copied."""
        if isinstance(dst, int):
            ctypes.memmove(dst, self.address, self.nbytes)
            return self.nbytes
        dst_strides = list(dst_strides or self.strides)
        if self.changed is not None:
            return self._copy_rect(dst, dst_strides, self.changed)
        _, rows, _ = plane_layout(self.fmt, self.width, self.height, self.strides)
        copied = 0
        for p, (d, ds, s, r) in enumerate(zip(dst, dst_strides, self.strides, rows, strict=True)):
            n = min(ds, s)
            copy_plane(d, ds, self.addresses[p], s, n, r)
            copied += n * r
        return copied

    def _copy_rect(self, dst: Sequence[int], dst_strides: Sequence[int], rect: Rect) -> int:
        if rect.empty:
            return 0
        boxes = plane_boxes(self.fmt, rect)
        if len(dst) != len(boxes) or len(dst_strides) != len(boxes):
            raise ValueError(f"{self.format_name} has {len(boxes)} planes, got {len(dst)}")
        copied = 0
        for d, ds, src, s, (bx, nb, y0, rows) in zip(dst, dst_strides, self.addresses, self.strides, boxes,
                                                     strict=True):
            if bx + nb > min(ds, s):  # the caller's rows are shorter than the rectangle needs
                raise ValueError(f"destination stride {ds} is shorter than a row of the frame")
            copy_plane(d + y0 * ds + bx, ds, src + y0 * s + bx, s, nb, rows)
            copied += nb * rows
        return copied

    def intact(self) -> bool:
        """True when the worker has not touched the slot since it was claimed (always, by protocol)."""
        return self._channel.still_valid("out", self._slot, self._version)
