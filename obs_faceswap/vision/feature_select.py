"""Which eyes and mouth the embedded swap shows: the source's by default, the target's only where the
source cannot provide them.

- Eyes: the source's eyes (iris colour and shape) warped to the target's lid opening, unless a
  source eye is much less open than the target's (a squinting or closed source eye stretched over
  an open one smears): then both of the target's own eyes show (``eye_choice``; a narrow
  transition, as a half-and-half blend of two eyes looks ghostly).
- Mouth: the source's lips always; where the target's mouth is open its own mouth interior shows
  (teeth, tongue: the classical mask cuts it out), and where the source's mouth is open wider than
  the target's, the source's teeth would be squeezed into a white line between the lips, so the
  target's own lip seam shows there instead (``mouth_seam_keep``).
"""

from __future__ import annotations

import cv2
import numpy as np

from obs_faceswap.vision.embedded import INNER_LIPS
from obs_faceswap.vision.shape_transfer import mouth_opening
from obs_faceswap.vision.types import Mask, Points

SOURCE_EYE_FROM = (0.72, 0.78)  # source/target eye-openness ratio: below the first the target's eye, above the second the source's
SEAM_OPEN_BY = 0.06  # source mouth opening above the target's by this much (share of mouth width): keep the seam


def eye_choice(open_target: float, open_source: float) -> float:
    """Weight (0..1) of the target's own eye: 0 = the source's eye, 1 = the target's (source too closed)."""
    r = open_source / max(open_target, 1e-3)
    lo, hi = SOURCE_EYE_FROM
    return float(np.clip((hi - r) / (hi - lo), 0.0, 1.0))


def mouth_seam_keep(dst: Points, src: Points, size: tuple[int, int]) -> Mask | None:
    """Soft (H, W) weight of the target's own pixels along its inner-lip line where the source's mouth
    is open wider than the target's (None when it is not)."""
    if mouth_opening(src) - mouth_opening(dst) < SEAM_OPEN_BY:
        return None
    h, w = size
    width = float(np.linalg.norm(dst[78] - dst[308]))
    grow = max(1.0, 0.04 * width)
    poly = dst[INNER_LIPS].astype(np.float32)
    m = np.zeros((h, w), np.float32)
    cv2.fillPoly(m, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    k = int(round(grow)) * 2 + 1
    m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.GaussianBlur(m, (0, 0), max(0.5, grow * 0.6))  # type: ignore[no-any-return]
