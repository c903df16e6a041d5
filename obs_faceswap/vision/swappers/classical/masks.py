"""The classical swapper's masks, straight from the 468-point face mesh (no model needed).

``face_mask``: the face outline (forehead lowered toward the brows) shrunk inward, the open mouth
cut out, feathered; ``mouth_keep``: exactly 0 on the target's lips (``keep_mouth``);
``eye_keep``: the target's own eyes where the source's are open unlike them; ``skin_mask``: the
bare skin that colour and lighting statistics are taken from.
"""

from __future__ import annotations

import cv2
import numpy as np

from obs_faceswap.vision.embedded import FACE_OVAL, INNER_LIPS, LEFT_EYE, OUTER_LIPS, RIGHT_EYE
from obs_faceswap.vision.masks import mouth_mask
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.types import Mask, Points

BASE_SHRINK = 0.04  # the mask starts this share of the face size inside the face outline
FOREHEAD_KEEP_CUT = 0.45  # share of the forehead height (above the brows) left to the target
BROW_RIGHT, BROW_LEFT = 105, 334  # mesh points on the upper brows (subject's right, left)
RIGHT_BROW_PTS = np.array([70, 63, 105, 66, 107, 55, 65, 52, 53, 46])  # brow outlines (mediapipe mesh)
LEFT_BROW_PTS = np.array([300, 293, 334, 296, 336, 285, 295, 282, 283, 276])
EYE_LIDS = ((159, 145, 33, 133), (386, 374, 362, 263))  # (upper lid, lower lid, corner, corner) per eye


def _polygon_scaled(pts: Points, grow: float) -> Points:
    c = pts.mean(0)
    return (pts - c) * np.float32(grow) + c


def skin_mask(pts: Points, size: tuple[int, int]) -> Mask:
    """(H, W) float 0/1: the face's bare skin (outline without forehead hair, eyes, brows and lips).

    Colour and lighting statistics are taken here only, so dark eyes, brows and red lips of one
    face do not shift the other face's skin tone.
    """
    h, w = size
    face_size = float((pts.max(0) - pts.min(0)).max())
    s = min(1.0, 64.0 / max(face_size, 1.0))
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    m = np.zeros((sh, sw), np.uint8)
    cv2.fillPoly(m, [np.round(_polygon_scaled(mask_outline(pts), 0.92) * s * 16).astype(np.int32)], 1,
                 cv2.LINE_8, 4)
    for idx, grow in ((RIGHT_EYE, 1.15), (LEFT_EYE, 1.15), (RIGHT_BROW_PTS, 1.1), (LEFT_BROW_PTS, 1.1),
                      (OUTER_LIPS, 1.2)):
        hull = cv2.convexHull(np.round(_polygon_scaled(pts[idx], grow) * s * 16).astype(np.int32))
        cv2.fillConvexPoly(m, hull, 0, cv2.LINE_8, 4)
    mf = m.astype(np.float32)
    if s < 1.0:
        mf = cv2.resize(mf, (w, h), interpolation=cv2.INTER_NEAREST)
    return mf


def eye_openness(pts: Points) -> tuple[float, float]:
    """Lid gap / eye width of (subject's right, left) eye from the mesh."""
    out = []
    for up, lo, c0, c1 in EYE_LIDS:
        out.append(float(np.linalg.norm(pts[up] - pts[lo]) / max(float(np.linalg.norm(pts[c0] - pts[c1])), 1e-3)))
    return out[0], out[1]


def eye_keep(dst: Points, src: Points, size: tuple[int, int]) -> Mask | None:
    """Soft (H, W) weight of the target's own eyes to keep, where the source eye cannot provide one.

    The source's eye is shown by default; a squinting or closed source eye stretched over a more
    open target eye smears, so such an eye is the target's own (``feature_select.eye_choice``;
    None when both eyes are the source's).
    """
    from obs_faceswap.vision.feature_select import eye_choice

    # one choice for both eyes (a source eye beside a target eye looks odd)
    keep = [max(eye_choice(o_t, o_s) for o_t, o_s in zip(eye_openness(dst), eye_openness(src), strict=True))] * 2
    if max(keep) <= 0.0:
        return None
    h, w = size
    face_size = float((dst.max(0) - dst.min(0)).max())
    s = min(1.0, 64.0 / max(face_size, 1.0))
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    m = np.zeros((sh, sw), np.float32)
    for idx, k in zip((RIGHT_EYE, LEFT_EYE), keep, strict=True):
        if k > 0:
            hull = cv2.convexHull(np.round(_polygon_scaled(dst[idx], 1.6) * s * 16).astype(np.int32))
            cv2.fillConvexPoly(m, hull, float(k), cv2.LINE_8, 4)
    eye_w = float(np.linalg.norm(dst[33] - dst[133])) * s
    m = cv2.GaussianBlur(m, (0, 0), max(0.5, 0.2 * eye_w))
    if s < 1.0:
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    return m


def face_mask(pts: Points, size: tuple[int, int], look: FaceOptions) -> Mask:
    """Soft (H, W) mask: the face outline shrunk inward, open mouth cut out, feathered."""
    h, w = size
    face_size = float((pts.max(0) - pts.min(0)).max())
    # work at reduced resolution: the mask is smooth, and blur cost grows with the kernel
    s = min(1.0, 96.0 / max(face_size, 1.0))
    sh, sw = max(1, round(h * s)), max(1, round(w * s))
    m = np.zeros((sh, sw), np.uint8)
    cv2.fillPoly(m, [np.round(mask_outline(pts) * s * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    shrink = (BASE_SHRINK + look.mask_padding) * face_size * s
    if shrink >= 0.5:
        k = int(round(shrink)) * 2 + 1
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    mouth = _mouth_polygon(pts, look)
    if mouth is not None:
        cv2.fillPoly(m, [np.round(mouth * s * 16).astype(np.int32)], 0, cv2.LINE_AA, 4)
    mf = m.astype(np.float32) * np.float32(1.0 / 255.0)
    sigma = look.mask_blur * 0.25 * face_size * s
    if sigma > 0.3:
        # feather inward only: blur, then keep the outline's outside at 0 by eroding first
        e = max(1, int(round(sigma)))
        mf = cv2.erode(mf, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1)))
        mf = cv2.GaussianBlur(mf, (0, 0), sigma)
    if s < 1.0:
        mf = cv2.resize(mf, (w, h), interpolation=cv2.INTER_LINEAR)
    return mf


def mouth_keep(pts: Points, size: tuple[int, int], mouth_size: float = 1.0) -> Mask:
    """(H, W) mask that is exactly 0 on the target's lips (outer lip contour x ``mouth_size``, plus a
    2 px guard band) and ramps smoothly to 1 around them (``masks.mouth_mask``).

    Computed in ROI pixels straight from the dense mesh (no model, no resampling), on a window
    around the mouth only, so the kept lips are the target's byte for byte.
    """
    h, w = size
    out = np.ones((h, w), np.float32)
    poly = _polygon_scaled(pts[OUTER_LIPS].astype(np.float32), mouth_size)
    width = float(poly[:, 0].max() - poly[:, 0].min())
    margin = int(np.ceil(max(2.0, 0.12 * width))) + 4  # mouth_mask's guard band + ramp, and a spare pixel
    x0, y0 = (max(0, int(np.floor(v)) - margin) for v in poly.min(0))
    x1 = min(w, int(np.ceil(poly[:, 0].max())) + margin + 1)
    y1 = min(h, int(np.ceil(poly[:, 1].max())) + margin + 1)
    if x1 <= x0 or y1 <= y0:
        return out
    region = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(region, [np.round((poly - np.float32([x0, y0])) * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    out[y0:y1, x0:x1] = mouth_mask(region)
    return out


def mask_outline(pts: Points) -> Points:
    """The face outline with the forehead lowered toward the brows, so hair lines never blend in."""
    oval = pts[FACE_OVAL].astype(np.float32)
    right_brow, left_brow = pts[BROW_RIGHT], pts[BROW_LEFT]
    across = left_brow - right_brow
    up = np.float32([across[1], -across[0]]) / max(float(np.linalg.norm(across)), 1e-3)  # toward the hairline
    brow_level = float(((right_brow + left_brow) / 2) @ up)
    height = oval @ up - brow_level  # > 0 above the brows
    lowered = oval - np.outer(np.clip(height, 0, None) * FOREHEAD_KEEP_CUT, up).astype(np.float32)
    return lowered


def _mouth_polygon(pts: Points, look: FaceOptions) -> Points | None:
    """The region of the target's own mouth to keep: the open mouth always, whole lips with keep_mouth."""
    if look.keep_mouth:
        poly = pts[OUTER_LIPS]
    else:
        poly = pts[INNER_LIPS]
        lip_h = float(np.linalg.norm(pts[13] - pts[14]))  # inner upper / lower lip centre
        mouth_w = float(np.linalg.norm(pts[78] - pts[308]))
        if lip_h < 0.08 * max(mouth_w, 1.0):  # closed mouth: nothing to keep
            return None
    c = poly.mean(0)
    return (poly - c) * np.float32(look.mouth_size) + c
