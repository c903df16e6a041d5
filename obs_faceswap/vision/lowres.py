"""Run a smooth per-pixel correction (colour, lighting) on a downscaled face and apply it at full size.

Colour transfer and relighting change a face slowly across it, but converting a big face's region
to LAB and back several times costs more than the warp itself (a 300 px face: ~10 ms on two CPU
cores). Computed on the face scaled to ``max_face`` pixels, the correction's difference image is
scaled back up and added to the full-size face, whose own fine detail is kept.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from obs_faceswap.vision.types import Frame, Points

Correction = Callable[[Frame, Frame, Points], Frame]  # (face image, reference, mesh in its pixels) -> corrected


def correct_downscaled(correct: Correction, image: Frame, reference: Frame, pts: Points, max_face: float) -> Frame:
    """``correct(image, reference, pts)``, computed on both images scaled so the face is at most
    ``max_face`` px and applied to ``image`` at full size as a smooth difference."""
    h, w = image.shape[:2]
    face = float((pts.max(0) - pts.min(0)).max())
    s = max_face / max(face, 1.0)
    if s >= 0.8:  # too little to gain
        return correct(image, reference, pts)
    sw, sh = max(8, round(w * s)), max(8, round(h * s))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    ref = cv2.resize(reference, (sw, sh), interpolation=cv2.INTER_AREA)
    scale = np.float32([sw / w, sh / h])
    fixed = correct(small, ref, (pts + np.float32(0.5)) * scale - np.float32(0.5))
    delta = cv2.subtract(fixed, small, dtype=cv2.CV_16S)
    up = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.add(image, up, dtype=cv2.CV_8U)  # type: ignore[no-any-return]
