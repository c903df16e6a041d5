"""Tone matching beyond colour statistics: the target's lighting and detail level.

Used by the merge stage (``vision/merge.py``) for records whose ``ColourState`` asks for them
(the classical swapper's: its source photo was lit and focused unlike the camera).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Frame, Mask, Points

SKIN_TINT_DAMP = 1.0  # share of the source's skin-tint variation (below the tint scale) removed by transfer_shading
# the a/b (tint) low-pass is this share of the lighting low-pass: the target's broad tint only (warm
# light, a flushed side); its fine tint (a flash's pale highlight under the eyes and on the nose) under
# the source's own skin texture read as grey patches
TINT_SIGMA_SHARE = 3.0
SHADING_SIGMA = 0.05  # target lighting kept below this scale (share of the face size)
# ...and on the ``relief`` region (the nose) below this finer scale: the shading of its 3-D relief
# (nose sides, wings, nostrils) is the target's light; the source's own, kept at the broad scale,
# read as a bright or dark ring around the nose when the source was lit from another side
RELIEF_SIGMA = 0.02
RELIEF_FEATHER = 0.06  # the relief polygon's feathering, share of the face size
SHARPEN_FROM = 1.3  # target/swap detail ratio (Laplacian variance) from which the swap is sharpened
SHARPEN_MAX = 1.2  # strongest unsharp-mask amount


def match_sharpness(warped: Frame, target: Frame, region: Mask) -> Frame:
    """``warped`` sharpened (unsharp mask) toward the target face's detail level, never softened.

    A source photo that is softer than the video (small, JPEG, enlarged) otherwise shows as a
    blurry face painted on a sharp frame. Detail is measured as the variance of the Laplacian
    inside ``region``; the gain is bounded, so camera noise in the target is not matched.
    """
    sel = (region > 0.5).astype(np.uint8)
    count = cv2.countNonZero(sel)
    if count < 64:
        return warped

    def detail(img: Frame) -> float:
        # the variance from the masked sum and sum of squares (the same value as a masked
        # cv2.meanStdDev, at about a quarter of its cost on a big face)
        lap = cv2.multiply(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_16S), sel, dtype=cv2.CV_16S)
        mean = cv2.sumElems(lap)[0] / count
        return float(cv2.norm(lap, cv2.NORM_L2SQR) / count - mean * mean)

    ratio = detail(target) / max(detail(warped), 1e-3)
    if ratio < SHARPEN_FROM:
        return warped
    amount = min(SHARPEN_MAX, float(np.sqrt(ratio)) - 1.0)
    blur = cv2.GaussianBlur(warped, (0, 0), 1.0)
    return cv2.addWeighted(warped, 1.0 + amount, blur, -amount, 0.0)  # type: ignore[no-any-return]


def transfer_shading(warped: Frame, target: Frame, skin: Mask, face_size: float, strength: float = 1.0,
                     relief: Points | None = None) -> Frame:
    """``warped`` relit by the target's light: its low-frequency skin colour replaced by the target's.

    Both faces' skin is low-passed in LAB (lightness at ``SHADING_SIGMA`` of the face size, tint
    ``TINT_SIGMA_SHARE`` times broader), normalised by the same skin weights (so eyes, brows and lips
    do not leak in), and the difference target - swap is added to the swap; on the skin the source's
    own tint variation below the tint scale is removed. The source keeps its features and fine
    detail at their own contrast and brings its mean skin tone (already matched by the colour
    transfer); shadows and highlights follow the target, and of its tint only the broad variation,
    so the face sits in the frame's lighting instead of looking painted on, and neither the source
    photo's pale highlights nor the target's take the source's texture as grey patches.

    ``relief`` (optional, a convex polygon in ``warped``'s pixels, feathered over ``RELIEF_FEATHER``)
    marks where the lightness follows the target down to the finer ``RELIEF_SIGMA`` (the nose and
    the skin beside it: its relief is shaded by the target's light). It is drawn at the low-pass's
    own small size, so it costs next to nothing per frame.
    """
    h, w = warped.shape[:2]
    s = min(1.0, 48.0 / max(face_size, 1.0))
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    wt = cv2.resize(skin, (sw, sh), interpolation=cv2.INTER_AREA)
    sigma = max(0.8, SHADING_SIGMA * face_size * s)

    sigma_ab = max(0.7, sigma * TINT_SIGMA_SHARE)
    norm_l = cv2.GaussianBlur(wt, (0, 0), sigma) + np.float32(0.02)  # no skin nearby: delta -> 0
    norm_ab = cv2.GaussianBlur(wt, (0, 0), sigma_ab) + np.float32(0.02)

    fine = None
    if relief is not None:
        sigma_fine = max(0.5, RELIEF_SIGMA * face_size * s)
        area = np.zeros((sh, sw), np.float32)
        cv2.fillConvexPoly(area, np.round(np.asarray(relief, np.float32) * np.float32(s * 16)).astype(np.int32),
                           1.0, cv2.LINE_AA, 4)
        area = cv2.GaussianBlur(area, (0, 0), max(0.5, RELIEF_FEATHER * face_size * s))
        fine = (area, sigma_fine, cv2.GaussianBlur(wt, (0, 0), sigma_fine) + np.float32(0.02))

    def low_lab(img: Frame) -> npt.NDArray[np.float32]:
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
        lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB) * wt[..., None]
        low = np.empty_like(lab)
        low[..., 0] = cv2.GaussianBlur(lab[..., 0], (0, 0), sigma) / norm_l
        low[..., 1:] = cv2.GaussianBlur(lab[..., 1:], (0, 0), sigma_ab) / norm_ab[..., None]
        if fine is not None:  # the lightness at the finer scale where the relief region is
            weight, sigma_f, norm_f = fine
            low_f = cv2.GaussianBlur(lab[..., 0], (0, 0), sigma_f) / norm_f
            low[..., 0] += (low_f - low[..., 0]) * weight
        return low

    low_t, low_w = low_lab(target), low_lab(warped)
    delta = np.clip(low_t - low_w, _DELTA_LO, _DELTA_HI) * np.float32(strength)
    delta = cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.cvtColor(warped.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2LAB)
    # on the skin, the source's fine tint variations (a pale highlight, a flushed patch: its own
    # lighting) are damped toward its local tint, which is then the target's
    damp = np.float32(SKIN_TINT_DAMP * strength) * cv2.GaussianBlur(skin, (0, 0), 1.0)
    low_w_ab = cv2.resize(low_w[..., 1:], (w, h), interpolation=cv2.INTER_LINEAR)
    lab[..., 1:] -= (lab[..., 1:] - low_w_ab) * damp[..., None]
    out = cv2.cvtColor(lab + delta, cv2.COLOR_LAB2BGR)
    return np.clip(out * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


_DELTA_LO = np.float32([-40.0, -30.0, -30.0])  # bounds of the LAB shading/tone correction
_DELTA_HI = np.float32([40.0, 30.0, 30.0])
