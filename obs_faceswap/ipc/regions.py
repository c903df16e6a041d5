"""Region frames (standard library only): read back and upload only where the face is.

A render-path filter that reads back a whole 1080p frame per frame makes OBS skip frames on a
software renderer (issue 19). A *region frame* carries instead, in one slot:

* the **main image**: the whole frame downscaled to ``width`` x ``height`` of the slot header (the
  worker finds faces on it; ``frame_w`` x ``frame_h`` is the frame's own size); 0 x 0 when it is
  not sent this time (a crop is, and the worker keeps the last one: ``SMALL_EVERY``);
* optionally a **crop**: the rectangle ``crop`` of the frame at full resolution (``crop_stride``
  bytes per row, starting ``crop_offset`` bytes into the slot's data); the worker swaps on it.

The worker's result, written in place, says in the same block which rectangle of the frame it
swapped (``crop``; empty: nothing to draw, show the input) and which rectangle the client should
read back next (``next``: the tracked faces with a margin; empty: no track, send the main image
alone). Both sides validate every field against the frame and the slot (``region_problem``)
before using it: the other side may be broken or hostile.

The region block sits after the fields of the slot header (``frames.SLOT_HEADER``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

REGION_OFFSET = 128  # where the block starts inside a slot header
# flags, frame_w, frame_h, crop x, y, w, h, crop_stride, reserved, crop_offset (u64), next x, y, w, h
REGION_FMT = "<IIIIIIIIIQIIII"
REGION_SIZE = struct.calcsize(REGION_FMT)
IS_REGION = 1  # flags bit 0: the slot is a region frame
# flags bit 1 (plain frames' results only): the worker changed only the rectangle ``crop`` of the
# frame (empty: nothing); the client copies back that rectangle alone (``frames.FrameView.copy_to``)
CHANGED = 2
MAX_SIDE = 16384  # larger than any texture OBS can make
PIXEL_BYTES = 4  # region frames are packed 4-byte formats (BGRA, RGBA, BGRX)

MARGIN = 0.5  # around the tracked faces, in face sizes (the swap's own surroundings, plus motion)
STEP = 32  # region sizes are multiples of this, so the OBS textures keep their size while a face moves
SMALL_SIDE = 320  # the downscaled whole frame's longest side (see docs/bench.md, issue 19)
SMALL_EVERY = 3  # with a crop, the downscaled frame is sent every this many frames (it finds new faces)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def inside(self, width: int, height: int) -> bool:
        return not self.empty and self.x + self.w <= width and self.y + self.h <= height

    def contains(self, other: Rect) -> bool:
        return (self.x <= other.x and self.y <= other.y and other.x + other.w <= self.x + self.w
                and other.y + other.h <= self.y + self.h)


NO_RECT = Rect(0, 0, 0, 0)


@dataclass(frozen=True)
class RegionHeader:
    """The region block of a slot header (see the module docstring)."""

    frame_w: int
    frame_h: int
    crop: Rect = NO_RECT
    crop_stride: int = 0
    crop_offset: int = 0
    next: Rect = NO_RECT

    def pack(self) -> tuple[int, ...]:
        c, n = self.crop, self.next
        return (IS_REGION, self.frame_w, self.frame_h, c.x, c.y, c.w, c.h, self.crop_stride, 0, self.crop_offset,
                n.x, n.y, n.w, n.h)

    @classmethod
    def unpack(cls, values: Sequence[int]) -> RegionHeader | None:
        flags, fw, fh, cx, cy, cw, ch, cs, _, co, nx, ny, nw, nh = values
        if not flags & IS_REGION:
            return None
        return cls(fw, fh, Rect(cx, cy, cw, ch), cs, co, Rect(nx, ny, nw, nh))


def region_problem(region: RegionHeader, width: int, height: int, nbytes: int) -> str:
    """Why a region block cannot be used with a main image of ``width`` x ``height`` and ``nbytes``
    bytes of slot data, or "" when it fits: the frame no bigger than ``MAX_SIDE`` and no smaller
    than the main image, the crop and the next region inside the frame, every byte of the crop
    (rows of ``crop_stride``, the last one ``w`` pixels) inside the data."""
    fw, fh = region.frame_w, region.frame_h
    if not (0 < fw <= MAX_SIDE and 0 < fh <= MAX_SIDE):
        return f"region frame of {fw}x{fh} pixels"
    if width > fw or height > fh:
        return f"main image {width}x{height} larger than its frame {fw}x{fh}"
    c = region.crop
    if c.w or c.h:
        if not c.inside(fw, fh):
            return f"crop {c.w}x{c.h} at {c.x},{c.y} outside the {fw}x{fh} frame"
        if region.crop_stride < c.w * PIXEL_BYTES:
            return f"crop stride {region.crop_stride} shorter than a row of {c.w} pixels"
        end = region.crop_offset + region.crop_stride * (c.h - 1) + c.w * PIXEL_BYTES
        if end > nbytes:
            return f"crop ends at byte {end}, past the frame's {nbytes} bytes"
    n = region.next
    if (n.w or n.h) and not n.inside(fw, fh):
        return f"next region {n.w}x{n.h} at {n.x},{n.y} outside the {fw}x{fh} frame"
    return ""


def changed_problem(rect: Rect, width: int, height: int, chroma_2x2: bool) -> str:
    """Why a plain frame's changed rectangle cannot be used on a ``width`` x ``height`` frame, or ""
    (empty means "nothing changed"). ``chroma_2x2``: 4:2:0/4:2:2 formats, whose chroma is copied
    for the even-aligned rectangle around it."""
    if rect.w == 0 and rect.h == 0 and rect.x == 0 and rect.y == 0:
        return ""
    if not rect.inside(width, height):
        return f"changed region {rect.w}x{rect.h} at {rect.x},{rect.y} outside the {width}x{height} frame"
    if chroma_2x2 and (rect.x % 2 or rect.y % 2):
        return f"changed region at odd {rect.x},{rect.y} in a subsampled frame"
    return ""


def standin_face(frame_w: int, frame_h: int) -> Rect:
    """A face-sized square in the middle of the frame (a quarter of its shorter side): what the
    ``noop`` processor says it tracks and swapped, so that ``bench obs --transport-only`` moves the
    bytes of a tracked face without any model (docs/bench.md)."""
    side = max(2, min(frame_w, frame_h) // 8 * 2)
    return Rect((frame_w - side) // 4 * 2, (frame_h - side) // 4 * 2, side, side)


def small_size(width: int, height: int, side: int = SMALL_SIDE) -> tuple[int, int]:
    """The downscaled whole frame's size: longest side at most ``side``, the aspect kept (even sizes)."""
    longest = max(width, height)
    if longest <= side:
        return width, height
    s = side / longest
    return max(2, round(width * s / 2) * 2), max(2, round(height * s / 2) * 2)


def next_region(boxes: Sequence[Sequence[float]], frame_w: int, frame_h: int, previous: Rect = NO_RECT,
                margin: float = MARGIN, step: int = STEP) -> Rect:
    """The rectangle of the frame to read back next: the union of ``boxes`` (x0, y0, x1, y1 in frame
    pixels, the tracked faces) widened by ``margin`` face sizes on every side, its size rounded up to
    a multiple of ``step`` (the previous size is kept while it still fits and is not much too big:
    the client's textures keep their size), centred on the faces and moved inside the frame.
    ``NO_RECT`` without boxes."""
    boxes = [b for b in boxes if len(b) == 4 and all(math.isfinite(float(v)) for v in b)]
    if not boxes or frame_w <= 0 or frame_h <= 0:
        return NO_RECT
    x0 = min(float(b[0]) for b in boxes)
    y0 = min(float(b[1]) for b in boxes)
    x1 = max(float(b[2]) for b in boxes)
    y1 = max(float(b[3]) for b in boxes)
    size = max(x1 - x0, y1 - y0, 1.0)
    pad = margin * size
    want_w, want_h = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad
    w = min(frame_w, step * math.ceil(want_w / step))
    h = min(frame_h, step * math.ceil(want_h / step))
    if not previous.empty and w <= previous.w <= 1.5 * w and h <= previous.h <= 1.5 * h:
        w, h = min(frame_w, previous.w), min(frame_h, previous.h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x = min(max(0, round(cx - w / 2)), frame_w - w)
    y = min(max(0, round(cy - h / 2)), frame_h - h)
    return Rect(int(x), int(y), int(w), int(h))


def clamp(rect: Rect, frame_w: int, frame_h: int) -> Rect:
    """``rect`` cut to the frame; ``NO_RECT`` when nothing is left."""
    x0, y0 = max(0, rect.x), max(0, rect.y)
    x1, y1 = min(frame_w, rect.x + rect.w), min(frame_h, rect.y + rect.h)
    return Rect(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else NO_RECT
