"""Paste a swapped crop back into the frame, touching only the face's region.

Only the frame rectangle covered by the crop is warped and blended (a few hundred pixels
square for a typical face) instead of warping crop and masks over the whole frame; a crop that
already is a frame ROI (a whole-pixel translation) is blended in place without any warp. The
soft box mask is ``masks.box_mask`` (cached).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from obs_faceswap.vision.align import Affine, invert, transform_points
from obs_faceswap.vision.types import Frame, Mask


def crop_region(m: Affine, size: int | tuple[int, int], frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """Integer frame rectangle (x0, y0, x1, y1) covered by a ``size`` (or (h, w)) crop with transform ``m``."""
    ch, cw = (size, size) if isinstance(size, int) else size
    corners = np.array([[0, 0], [cw, 0], [0, ch], [cw, ch]], dtype=np.float64)
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
    amount = float(min(max(amount, 0.0), 1.0))
    if amount <= 0.0:
        return frame
    shift = _whole_pixel_shift(m)
    if shift is not None:  # the crop is a frame ROI: blend in place
        x0, y0 = shift
        y1, x1 = y0 + crop.shape[0], x0 + crop.shape[1]
        if x0 < 0 or y0 < 0 or y1 > frame.shape[0] or x1 > frame.shape[1]:
            raise ValueError(f"ROI ({x0}, {y0}, {x1}, {y1}) is outside the {frame.shape[1]}x{frame.shape[0]} frame")
        back = crop
        alpha = mask * np.float32(amount) if amount < 1.0 else mask
    else:
        region = crop_region(m, crop.shape[:2], frame.shape)
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
    a = np.ascontiguousarray(alpha, dtype=np.float32)
    # one pass in OpenCV: back * a + roi * (1 - a), rounded (half the cost of the float32 blend in numpy)
    roi[...] = cv2.blendLinear(np.ascontiguousarray(back), np.ascontiguousarray(roi), a, np.float32(1.0) - a)
    return frame


def _whole_pixel_shift(m: Affine) -> tuple[int, int] | None:
    """(x0, y0) when ``m`` is the translation frame -> ROI at (x0, y0), else None."""
    if not (m[0, 0] == 1.0 and m[1, 1] == 1.0 and m[0, 1] == 0.0 and m[1, 0] == 0.0):
        return None
    tx, ty = -float(m[0, 2]), -float(m[1, 2])
    if tx != round(tx) or ty != round(ty):
        return None
    return int(tx), int(ty)
