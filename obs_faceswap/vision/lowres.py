"""Run a smooth per-pixel correction (colour, lighting) on a downscaled face and apply it at full size.

Colour transfer and relighting change a face slowly across it, but converting a big face's region
to LAB and back several times costs more than the warp itself (a 300 px face: ~10 ms on two CPU
cores). Computed on the images scaled down, the correction's difference image is scaled back up
and added to the full-size face, whose own fine detail is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2

from obs_faceswap.vision.types import Frame, Mask

# (image, reference, masks at that size) -> the corrected image
Correction = Callable[[Frame, Frame, Sequence[Mask | None]], Frame]


def correct_downscaled(correct: Correction, image: Frame, reference: Frame, scale: float,
                       masks: Sequence[Mask | None] = ()) -> Frame:
    """``correct(image, reference, masks)`` computed on everything scaled by ``scale`` (< 1) and applied
    to ``image`` at full size as a smooth difference; at full size when ``scale`` saves little."""
    if scale >= 0.8:
        return correct(image, reference, masks)
    h, w = image.shape[:2]
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = shrink(image, (sw, sh))
    ref = shrink(reference, (sw, sh))
    small_masks = [None if m is None else shrink(m, (sw, sh)) for m in masks]
    fixed = correct(small, ref, small_masks)
    delta = cv2.subtract(fixed, small, dtype=cv2.CV_16S)
    up = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(image, up, dtype=cv2.CV_8U)  # type: ignore[no-any-return]


def shrink(img: Frame, size: tuple[int, int], linear_from: float = 2.0) -> Frame:
    """``img`` downscaled to ``size`` (w, h) with little aliasing, fast: from ``linear_from`` x smaller on,
    bilinear to twice the size first, then an exact 2x area step (``INTER_AREA`` at a fractional
    factor costs several times more)."""
    w, h = size
    if img.shape[1] >= linear_from * w and img.shape[0] >= linear_from * h:
        img = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)  # type: ignore[no-any-return]
