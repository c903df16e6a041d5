"""The face's regions on the 468-point mesh (eyes, brows, nose, mouth, skin) as soft masks.

Used where a region is treated on its own: the nose's relief shading follows the target's light
(``nose_relief``), and with several source photos each region's texture comes from the photo that
shows it best (``source_texture.py``).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Mask, Points

# the nose from the bridge between the eyes down to the nostrils and wings (mediapipe mesh)
NOSE = np.array([168, 193, 417, 122, 351, 196, 419, 3, 248, 236, 456, 198, 420, 131, 360, 49, 279, 48, 278,
                 64, 294, 98, 327, 97, 326, 2])
RIGHT_BROW = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46])
LEFT_BROW = np.array([300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
RELIEF_GROW = 1.5  # the nose's relief region: its hull grown this much (its wings and the skin just beside them)


MASK_FACE_PX = 64  # soft region masks are drawn at this face size and scaled up (they are smooth)


def hull_mask(pts: Points, index: npt.ArrayLike, size: tuple[int, int], grow: float, soft: float) -> Mask:
    """(H, W) float: 1 inside the convex hull of ``pts[index]`` grown ``grow`` x about its centre,
    feathered with a Gaussian of ``soft`` pixels; drawn at ``MASK_FACE_PX`` and scaled up."""
    h, w = size
    s = min(1.0, MASK_FACE_PX / max(float(np.ptp(pts, 0).max()), 1.0))
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    p = pts[np.asarray(index)].astype(np.float32)
    c = p.mean(0)
    m = np.zeros((sh, sw), np.float32)
    hull = cv2.convexHull(np.round(((p - c) * np.float32(grow) + c) * np.float32(s * 16)).astype(np.int32))
    cv2.fillConvexPoly(m, hull, 1.0, cv2.LINE_AA, 4)
    if soft * s >= 0.3:
        m = cv2.GaussianBlur(m, (0, 0), soft * s)
    if s < 1.0:
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    return m


def nose_relief(pts: Points) -> Points:
    """The convex polygon of the nose and the skin just beside its wings (``RELIEF_GROW`` x its hull)."""
    p = pts[NOSE].astype(np.float32)
    c = p.mean(0)
    return cv2.convexHull((p - c) * np.float32(RELIEF_GROW) + c)[:, 0]  # type: ignore[no-any-return]
