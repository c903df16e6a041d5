"""Worker side of region frames (``obs_faceswap/ipc/regions.py``): keep the frame as last seen
(downscaled frames scaled up, each crop pasted in at full resolution), track faces on it, swap
on the crop, write the swapped crop back in place and say which rectangle to read next.

The client sends the downscaled frame every ``SMALL_EVERY`` frames while it sends a crop (it only
serves to find new faces: the tracked ones are followed on the crop's own pixels) and every
frame otherwise. Processors with a ``process_region(frame, crop, crop_xy)`` method (the face
pipeline) track themselves and return the faces they swapped; the others (the test processors)
get the crop as a frame and ask for the whole frame (they have no track).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import SlotHeader
from obs_faceswap.ipc.regions import NO_RECT, Rect, RegionHeader, clamp, next_region, standin_face

RESULT_MARGIN = 0.05  # around the changed pixels of the swapped crop (what the client uploads), in face sizes


def _view4(buf: Any, offset: int, w: int, h: int, stride: int) -> np.ndarray:
    """An (h, w, 4) uint8 view of packed pixels at ``offset`` with ``stride`` bytes per row."""
    return np.ndarray((h, w, 4), np.uint8, buffer=buf, offset=offset, strides=(stride, 4, 1))


def _to_bgr(px: np.ndarray, fmt: int) -> np.ndarray:
    return cv2.cvtColor(px, cv2.COLOR_RGBA2BGR if fmt == F.RGBA else cv2.COLOR_BGRA2BGR)


def _write_back(bgr: np.ndarray, px: np.ndarray, fmt: int) -> None:
    """``bgr`` into the packed pixels ``px`` in place (alpha kept)."""
    if bgr.shape != (*px.shape[:2], 3):
        raise ValueError(f"processor returned shape {bgr.shape}, expected {(*px.shape[:2], 3)}")
    order = [0, 0, 1, 1, 2, 2] if fmt != F.RGBA else [0, 2, 1, 1, 2, 0]
    out = np.empty(px.shape, np.uint8)
    cv2.mixChannels([np.ascontiguousarray(bgr), np.ascontiguousarray(px)], [out], order + [6, 3])
    px[...] = out


def changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around every pixel where the H x W x C images ``a`` and ``b`` differ; None
    when they are equal (SIMD passes: one absdiff, a max per row and per column)."""
    h, w = a.shape[:2]
    d = cv2.absdiff(np.ascontiguousarray(a), np.ascontiguousarray(b)).reshape(h, -1)
    rows = np.flatnonzero(cv2.reduce(d, 1, cv2.REDUCE_MAX).ravel())
    if not len(rows):
        return None
    cols = np.flatnonzero(cv2.reduce(d[rows[0]:rows[-1] + 1], 0, cv2.REDUCE_MAX).ravel()) // a.shape[2]
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


class RegionState:
    """One channel's region bookkeeping between frames: the frame as last seen (the downscaled
    frames scaled up, the crops pasted in at full resolution: faces are tracked on it in frame
    pixels, with the crop's own pixels) and the last rectangles (steady sizes)."""

    def __init__(self) -> None:
        self.next = NO_RECT
        self.result = NO_RECT
        self.canvas: np.ndarray | None = None

    def _canvas(self, small: np.ndarray | None, fw: int, fh: int) -> np.ndarray:
        if small is not None:
            self.canvas = small if small.shape[:2] == (fh, fw) else cv2.resize(small, (fw, fh),
                                                                               interpolation=cv2.INTER_LINEAR)
        elif self.canvas is None or self.canvas.shape[:2] != (fh, fw):  # a crop before any downscaled frame
            self.canvas = np.zeros((fh, fw, 3), np.uint8)
        return self.canvas

    def _noop(self, region: RegionHeader, hdr: SlotHeader) -> RegionHeader:
        """The ``noop`` processor: the crop comes back as sent, named as swapped (the client uploads and
        draws it as it would a swapped face); the next rectangle is the one around a face-sized square
        in the middle of the frame (``standin_face``), so the client reads back what it would for one
        tracked face. No conversion, no copy: the worker costs OBS's cores nothing."""
        fw, fh = region.frame_w, region.frame_h
        f = standin_face(fw, fh)
        self.next = next_region([(f.x, f.y, f.x + f.w, f.y + f.h)], fw, fh, self.next)
        if region.crop.empty or (hdr.width, hdr.height) == (fw, fh):
            return RegionHeader(fw, fh, NO_RECT, 0, 0, self.next)
        return RegionHeader(fw, fh, region.crop, region.crop_stride, region.crop_offset, self.next)

    def process(self, processor: Any, buf: Any, base: int, hdr: SlotHeader,
                lipsync: Any = None) -> RegionHeader:
        """Process the region frame in slot data at ``base`` (in place); returns the result's region block."""
        region = hdr.region
        assert region is not None
        fw, fh, fmt = region.frame_w, region.frame_h, hdr.fmt
        if getattr(processor, "name", "") == "noop":  # transport only: no pixel touched, a stand-in track
            return self._noop(region, hdr)
        small_px = _view4(buf, base, hdr.width, hdr.height, hdr.strides[0]) if hdr.width and hdr.height else None
        whole = region.crop.empty and (hdr.width, hdr.height) == (fw, fh)  # small frame: it is the crop
        if whole:
            crop, stride, offset = Rect(0, 0, fw, fh), hdr.strides[0], 0
        else:
            crop, stride, offset = region.crop, region.crop_stride, region.crop_offset
        crop_px = None if crop.empty else _view4(buf, base + offset, crop.w, crop.h, stride)
        canvas = self._canvas(None if small_px is None else _to_bgr(small_px, fmt), fw, fh)
        crop_bgr = None
        if whole:
            crop_bgr = canvas
        elif crop_px is not None:
            crop_bgr = _to_bgr(crop_px, fmt)
            canvas[crop.y:crop.y + crop.h, crop.x:crop.x + crop.w] = crop_bgr
        method = getattr(processor, "process_region", None)
        if method is None:  # no track of its own: process what came, then ask for everything
            out = processor.process(crop_bgr.copy()) if crop_bgr is not None else None
            boxes: list[tuple[float, float, float, float]] = [(0.0, 0.0, float(fw), float(fh))]
        else:
            out, boxes = method(canvas, crop_bgr, (crop.x, crop.y))
        if out is not None and lipsync is not None:
            out = lipsync.process(out, hdr.timestamp)
        self.next = next_region(boxes, fw, fh, self.next)
        result = NO_RECT
        if out is not None and crop_px is not None and out is not crop_bgr:
            if out.shape != crop_bgr.shape:
                _write_back(out, crop_px, fmt)  # raises: the processor returned another size
            # upload only what changed (with a small margin, steady sizes), never more than the crop
            box = changed_box(out, crop_bgr)
            if box is not None:
                grown = next_region([(box[0] + crop.x, box[1] + crop.y, box[2] + crop.x, box[3] + crop.y)],
                                    fw, fh, self.result, margin=RESULT_MARGIN)
                inner = clamp(Rect(grown.x - crop.x, grown.y - crop.y, grown.w, grown.h), crop.w, crop.h)
                if not inner.empty:
                    r = inner
                    _write_back(out[r.y:r.y + r.h, r.x:r.x + r.w], crop_px[r.y:r.y + r.h, r.x:r.x + r.w], fmt)
                    result = Rect(crop.x + r.x, crop.y + r.y, r.w, r.h)
        self.result = result
        if result.empty:
            return RegionHeader(fw, fh, NO_RECT, 0, 0, self.next)
        return RegionHeader(fw, fh, result, stride, offset + (result.y - crop.y) * stride + (result.x - crop.x) * 4,
                            self.next)
