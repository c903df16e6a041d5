"""Paste a swapped crop back into the frame, touching only the face's region.

Only the frame rectangle covered by the crop is warped and blended (a few hundred pixels
square for a typical face) instead of warping crop and masks over the whole frame. The soft
box mask depends only on crop size, padding and blur, so it is built once and cached.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from obs_faceswap.vision.align import Affine, invert, transform_points
from obs_faceswap.vision.types import Frame, Mask


@lru_cache(maxsize=32)
def box_mask(size: int, blur: float = 0.3, padding: float = 0.0) -> Mask:
    """Soft (size x size) mask: 1 inside, fading to 0 at the border.

    ``blur`` (0..1, share of the crop size) sets the fade width; ``padding`` (0..0.5, share of
    the size) shrinks the mask inwards on every side. Read-only (shared by the cache).
    """
    fade = max(1, int(round(size * 0.5 * blur)))
    margin = max(1, int(round(0.75 * fade))) + int(round(size * padding))  # edge ~0 after the blur
    m = np.zeros((size, size), dtype=np.float32)
    if margin < size - margin:
        m[margin:size - margin, margin:size - margin] = 1.0
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), max(0.5, fade * 0.25))
    m.setflags(write=False)
    return m


def crop_region(m: Affine, size: int, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Integer frame rectangle (x0, y0, x1, y1) covered by a ``size`` crop with transform ``m``."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    pts = transform_points(corners, invert(m))
    h, w = frame_shape[:2]
    x0 = max(0, int(math.floor(pts[:, 0].min())))
    y0 = max(0, int(math.floor(pts[:, 1].min())))
    x1 = min(w, int(math.ceil(pts[:, 0].max())) + 1)
    y1 = min(h, int(math.ceil(pts[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste_back(frame: Frame, crop: Frame, m: Affine, mask: Mask, amount: float = 1.0) -> Frame:
    """Blend ``crop`` (aligned with frame -> crop transform ``m``) into ``frame`` in place; return it.

    ``mask`` is in crop coordinates (float 0..1); ``amount`` 0..1 scales it (the blend setting).
    Pixels outside the crop's footprint are never read or written.
    """
    size = crop.shape[0]
    amount = float(min(max(amount, 0.0), 1.0))
    if amount <= 0.0:
        return frame
    region = crop_region(m, size, frame.shape)
    if region is None:
        return frame
    x0, y0, x1, y1 = region
    im = invert(m)
    im[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    back = cv2.warpAffine(crop, im, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, im, dsize, flags=cv2.INTER_LINEAR, borderValue=0.0)
    if amount < 1.0:
        alpha *= amount
    roi = frame[y0:y1, x0:x1]
    a = alpha[:, :, None]
    mixed = roi.astype(np.float32)
    mixed += (back.astype(np.float32) - mixed) * a
    np.rint(mixed, out=mixed)
    roi[...] = mixed.astype(np.uint8)
    return frame
