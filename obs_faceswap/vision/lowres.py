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
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    ref = cv2.resize(reference, (sw, sh), interpolation=cv2.INTER_AREA)
    small_masks = [None if m is None else cv2.resize(m, (sw, sh), interpolation=cv2.INTER_AREA) for m in masks]
    fixed = correct(small, ref, small_masks)
    delta = cv2.subtract(fixed, small, dtype=cv2.CV_16S)
    up = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(image, up, dtype=cv2.CV_8U)  # type: ignore[no-any-return]
