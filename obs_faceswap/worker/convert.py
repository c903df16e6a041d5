"""Pixel-format conversion between shared-memory frames and BGR ``Frame`` arrays.

Frames in a slot are planes stored with their own strides (``SlotHeader.strides/offsets``).
A YUV frame converts with the colour matrix its header carries (OBS's ``color_matrix``: BT.601,
BT.709 or BT.2020 coefficients, full or limited range) in both directions (the inverse matrix on
the way back, chroma averaged over 2x2 / 2x1), so a frame converted to BGR and back without
changes comes back the same up to rounding, and a full-range webcam frame
keeps its blacks and whites. Without a matrix, OpenCV's BT.601 limited-range conversions are
used. YUV formats need an even width and height (OBS always delivers them so).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import cv2
import numpy as np

from obs_faceswap.ipc import frames as F
from obs_faceswap.ipc.frames import SlotHeader
from obs_faceswap.ipc.regions import Rect


def _planes(flat: np.ndarray, hdr: SlotHeader) -> list[np.ndarray]:
    """2-D (rows, bytes of a row of ``width`` pixels) uint8 views of each plane, rows ``stride`` apart
    (``hdr`` was checked against the slot: ``FrameChannel.header_problem``)."""
    boxes = F.plane_boxes(hdr.fmt, Rect(0, 0, hdr.width, hdr.height))
    for o, s, (_, nb, _, r) in zip(hdr.offsets, hdr.strides, boxes, strict=True):
        if o < 0 or s < nb or (r and o + s * (r - 1) + nb > flat.nbytes):
            raise ValueError(f"plane at {o} ({r} rows of {nb} bytes, {s} apart) outside the {flat.nbytes} bytes")
    return [np.lib.stride_tricks.as_strided(flat[o:], (r, nb), (s, 1))
            for o, s, (_, nb, _, r) in zip(hdr.offsets, hdr.strides, boxes, strict=True)]


def even_rect(rect: Rect, width: int, height: int) -> Rect:
    """``rect`` grown to even coordinates and sizes (whole 2x2 chroma blocks), inside the frame."""
    if rect.empty:
        return rect
    x0, y0 = rect.x // 2 * 2, rect.y // 2 * 2
    x1, y1 = min(width, (rect.x + rect.w + 1) // 2 * 2), min(height, (rect.y + rect.h + 1) // 2 * 2)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def sub_header(hdr: SlotHeader, rect: Rect) -> SlotHeader:
    """The header of the part ``rect`` of a frame (even-aligned for YUV formats): the same strides,
    offsets moved to the rectangle's first byte of each plane, in the same slot data."""
    boxes = F.plane_boxes(hdr.fmt, rect)
    offsets = tuple(o + y0 * s + bx for o, s, (bx, _, y0, _) in zip(hdr.offsets, hdr.strides, boxes, strict=True))
    return replace(hdr, width=rect.w, height=rect.h, offsets=offsets)


def _check_even(hdr: SlotHeader) -> None:
    if hdr.width % 2 or hdr.height % 2:
        raise ValueError(f"{F.FORMAT_NAMES[hdr.fmt]} frames need an even width and height, "
                         f"got {hdr.width}x{hdr.height}")


@lru_cache(maxsize=16)
def _transforms(color: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(yuv->bgr, bgr->yuv) 3x4 matrices for ``cv2.transform`` on 8-bit pixels, from the 12 floats
    (rows R, G, B; columns Y, U, V, offset; values 0..1) of an OBS colour matrix."""
    m = np.array(color, np.float64).reshape(3, 4)
    a, off = m[:, :3], m[:, 3] * 255.0
    to_bgr = np.hstack([a[::-1], off[::-1, None]])
    inv = np.linalg.inv(a)
    from_bgr = np.hstack([inv[:, ::-1], -(inv @ off)[:, None]])
    return to_bgr.astype(np.float32), from_bgr.astype(np.float32)


def _yuv_planes(p: list[np.ndarray], hdr: SlotHeader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y (h, w) and U, V at their stored resolution."""
    w, h, fmt = hdr.width, hdr.height, hdr.fmt
    if fmt == F.I420:
        return p[0][:, :w], p[1][:, :w // 2], p[2][:, :w // 2]
    if fmt == F.NV12:
        uv = p[1][:, :w].reshape(h // 2, w // 2, 2)
        return p[0][:, :w], uv[..., 0], uv[..., 1]
    d = p[0][:, :w * 2].reshape(h, w // 2, 4)  # YUY2: Y0 U Y1 V
    y = np.empty((h, w), np.uint8)
    y[:, 0::2], y[:, 1::2] = d[..., 0], d[..., 2]
    return y, d[..., 1], d[..., 3]


def _write_yuv(dp: list[np.ndarray], hdr: SlotHeader, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Store Y (h, w) and U, V at the format's chroma resolution ((h/2, w/2); YUY2: (h, w/2)) in
    the planes ``dp``, leaving row padding alone."""
    w, h, fmt = hdr.width, hdr.height, hdr.fmt
    if fmt == F.I420:
        dp[0][:, :w] = y
        dp[1][:, :w // 2] = u
        dp[2][:, :w // 2] = v
    elif fmt == F.NV12:
        dp[0][:, :w] = y
        uv = dp[1][:, :w].reshape(h // 2, w // 2, 2)
        uv[..., 0], uv[..., 1] = u, v
    elif fmt == F.YUY2:
        d = dp[0][:, :w * 2].reshape(h, w // 2, 4)
        d[..., 0], d[..., 2], d[..., 1], d[..., 3] = y[:, 0::2], y[:, 1::2], u, v
    else:
        raise ValueError(f"unsupported pixel format {fmt}")


def _matrix_to_bgr(p: list[np.ndarray], hdr: SlotHeader, color: tuple[float, ...]) -> np.ndarray:
    w, h = hdr.width, hdr.height
    y, u, v = _yuv_planes(p, hdr)
    # each chroma sample covers its 2x2 (2x1) block, as in OpenCV's own conversions: with the
    # averaging on the way back, chroma the processor did not change comes back unchanged
    u = cv2.resize(np.ascontiguousarray(u), (w, h), interpolation=cv2.INTER_NEAREST)
    v = cv2.resize(np.ascontiguousarray(v), (w, h), interpolation=cv2.INTER_NEAREST)
    yuv = cv2.merge([np.ascontiguousarray(y), u, v])
    return cv2.transform(yuv, _transforms(color)[0])


def _matrix_from_bgr(bgr: np.ndarray, dp: list[np.ndarray], hdr: SlotHeader, color: tuple[float, ...]) -> None:
    w, h, fmt = hdr.width, hdr.height, hdr.fmt
    yuv = cv2.transform(np.ascontiguousarray(bgr), _transforms(color)[1])
    y, u, v = cv2.split(yuv)
    csize = (w // 2, h) if fmt == F.YUY2 else (w // 2, h // 2)
    u = cv2.resize(u, csize, interpolation=cv2.INTER_AREA)  # the mean of each 2x2 (2x1) block
    v = cv2.resize(v, csize, interpolation=cv2.INTER_AREA)
    _write_yuv(dp, hdr, y, u, v)


def to_bgr(flat: np.ndarray, hdr: SlotHeader) -> np.ndarray:
    """A new contiguous HxWx3 uint8 BGR array (never a view of ``flat``) from a frame in any
    supported format."""
    w, h, fmt = hdr.width, hdr.height, hdr.fmt
    p = _planes(flat, hdr)
    if fmt in (F.I420, F.NV12, F.YUY2) and hdr.color:
        _check_even(hdr)
        return _matrix_to_bgr(p, hdr, tuple(hdr.color))
    if fmt in (F.BGRA, F.BGRX):
        return cv2.cvtColor(p[0][:, :w * 4].reshape(h, w, 4), cv2.COLOR_BGRA2BGR)
    if fmt == F.RGBA:
        return cv2.cvtColor(p[0][:, :w * 4].reshape(h, w, 4), cv2.COLOR_RGBA2BGR)
    if fmt == F.BGR:
        return p[0][:, :w * 3].reshape(h, w, 3).copy()
    _check_even(hdr)
    if fmt == F.YUY2:
        return cv2.cvtColor(np.ascontiguousarray(p[0][:, :w * 2].reshape(h, w, 2)), cv2.COLOR_YUV2BGR_YUY2)
    yuv = np.empty((h * 3 // 2, w), np.uint8)
    yuv[:h] = p[0][:, :w]
    if fmt == F.I420:
        q = (w // 2) * (h // 2)
        rest = yuv[h:].reshape(-1)
        rest[:q] = p[1][:, :w // 2].reshape(-1)
        rest[q:] = p[2][:, :w // 2].reshape(-1)
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
    if fmt == F.NV12:
        yuv[h:] = p[1][:, :w]
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_NV12)
    raise ValueError(f"unsupported pixel format {fmt}")


def from_bgr(bgr: np.ndarray, hdr: SlotHeader, src: np.ndarray, dst: np.ndarray) -> None:
    """Write ``bgr`` into ``dst`` in the layout of ``hdr`` (alpha and row padding taken from ``src``)."""
    w, h, fmt = hdr.width, hdr.height, hdr.fmt
    if bgr.shape[:2] != (h, w) or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"processor returned shape {bgr.shape}, expected {(h, w, 3)}")
    sp, dp = _planes(src, hdr), _planes(dst, hdr)
    if fmt in (F.BGRA, F.BGRX, F.RGBA):
        s4 = sp[0][:, :w * 4].reshape(h, w, 4)
        d4 = dp[0][:, :w * 4].reshape(h, w, 4)
        # one pass, in place, works with padded rows (numpy's strided assignment is ~25x slower)
        order = [0, 0, 1, 1, 2, 2] if fmt != F.RGBA else [0, 2, 1, 1, 2, 0]
        cv2.mixChannels([np.ascontiguousarray(bgr), s4], [d4], order + [6, 3])
        return
    if fmt == F.BGR:
        dp[0][:, :w * 3].reshape(h, w, 3)[...] = bgr
        return
    _check_even(hdr)
    if hdr.color:
        _matrix_from_bgr(bgr, dp, hdr, tuple(hdr.color))
        return
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV_I420)
    y = yuv[:h]
    q = (w // 2) * (h // 2)
    rest = yuv[h:].reshape(-1)
    u = rest[:q].reshape(h // 2, w // 2)
    v = rest[q:].reshape(h // 2, w // 2)
    if fmt == F.YUY2:  # 4:2:2 from OpenCV's 4:2:0: each chroma row serves two rows
        u, v = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)
    _write_yuv(dp, hdr, y, u, v)
