"""Five-point face alignment: a similarity transform from key points to a crop template.

``estimate_similarity`` is the closed-form least-squares fit of Umeyama (1991): rotation,
uniform scale and translation that map ``src`` onto ``dst`` with the smallest squared error.
Templates are stored normalised to the unit square and scaled to the crop size on use.

Where the template numbers come from (public facts, not code):

- ``arcface_112_v2``: ``arcface_dst`` in insightface's ``python-package/insightface/utils/face_align.py``
  (the 112x112 ArcFace recognition crop; MIT-licensed code, the numbers are the published template).
- ``arcface_128``: the same points shifted by 8 px in x inside a 128 px square, which is how
  insightface's ``norm_crop``/``estimate_norm`` place a 128 px inswapper crop (``diff_x = 8.0 * ratio``).
- ``arcface_112_v1``: the frontal one of the five pose templates (``src1`` … ``src5``, the third)
  in insightface's earlier ``face_align``; SimSwap aligns its crops with it, scaled to 224/256 px.
- ``ffhq_512``: the 5-point positions of the FFHQ-aligned 512 px face, as used by the
  GFPGAN-family enhancers (GFPGAN, CodeFormer, GPEN via facexlib's ``FaceRestoreHelper``
  ``face_template``: e.g. left eye (192.98, 239.95) of 512), divided by 512.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Frame, Points

Affine = npt.NDArray[np.float64]  # (2, 3) frame -> crop

_ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,  # float32 as published, so crops match insightface's bit for bit
).astype(np.float64)

# Normalised (0..1) 5-point templates: left eye, right eye, nose, left mouth, right mouth.
TEMPLATES: dict[str, npt.NDArray[np.float64]] = {
    # ArcFace recognition crop (insightface arcface_dst at 112 px)
    "arcface_112_v2": _ARCFACE_112 / 112.0,
    # inswapper / ReSwapper crop: the 112 template shifted 8 px right inside a 128 px square
    "arcface_128": (_ARCFACE_112 + np.array([8.0, 0.0])) / 128.0,
    # the older ArcFace template (SimSwap uses it scaled to 256)
    "arcface_112_v1": np.array(
        [[39.7300, 51.1380], [72.2700, 51.1380], [56.0000, 68.4930], [42.4630, 87.0100], [69.5370, 87.0100]],
        dtype=np.float64,
    ) / 112.0,
    # FFHQ-aligned 512 px (GFPGAN, CodeFormer, GPEN)
    "ffhq_512": np.array(
        [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
         [0.39308822, 0.72541100], [0.61150205, 0.72490465]],
        dtype=np.float64,
    ),
}


def template_points(name: str, size: int, *, native: int = 0) -> npt.NDArray[np.float64]:
    """The 5 template points of ``name`` in pixels of a ``size`` x ``size`` crop.

    With ``native`` (the size the template was published for, e.g. 128 for ``arcface_128``) the
    points are scaled pixel centre to pixel centre, ``(p + 0.5) * size / native - 0.5``, instead of
    ``p * size / native``: +0.5 px at 2x, +1.5 px at 4x. ReSwapper aligns its 256 px crops this way
    (its ``face_align.estimate_norm`` adds ``128 / 32768 * size - 0.5``, the same formula), and a
    k x k polyphase split of such a crop (pixel boost) gives sub-images whose average lies exactly
    on the native template.
    """
    try:
        pts = TEMPLATES[name]
    except KeyError:
        raise ValueError(f"unknown alignment template {name!r}; use one of {', '.join(TEMPLATES)}") from None
    if native and size != native:
        return (pts * float(native) + 0.5) * (float(size) / native) - 0.5
    return pts * float(size)


def estimate_similarity(src: npt.ArrayLike, dst: npt.ArrayLike) -> Affine:
    """Least-squares similarity transform (Umeyama) mapping points ``src`` onto ``dst``.

    Returns the 2x3 matrix ``M`` with ``dst ~= M @ [x, y, 1]``.
    """
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if s.shape != d.shape or len(s) < 2:
        raise ValueError("need at least two matching point pairs")
    n = float(len(s))
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    cov = dc.T @ sc / n
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (sc**2).sum() / n
    scale = float(np.trace(np.diag(sig) @ sign)) / var_s if var_s > 0 else 1.0
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def face_transform(kps: Points, template: str, size: int, *, native: int = 0) -> Affine:
    """Frame -> crop transform that puts ``kps`` on ``template`` in a ``size`` px crop (``native``: see
    :func:`template_points`)."""
    return estimate_similarity(kps, template_points(template, size, native=native))


def warp_face(frame: Frame, kps: Points, template: str, size: int, *, native: int = 0) -> tuple[Frame, Affine]:
    """Aligned ``size`` x ``size`` crop of the face with key points ``kps``, and its transform."""
    m = face_transform(kps, template, size, native=native)
    crop = cv2.warpAffine(frame, m, (size, size), borderValue=0.0)
    return crop, m


def invert(m: Affine) -> Affine:
    """Inverse of a 2x3 affine transform (crop -> frame)."""
    return cv2.invertAffineTransform(m).astype(np.float64)


def transform_points(points: npt.ArrayLike, m: Affine) -> npt.NDArray[np.float64]:
    """Apply a 2x3 affine transform to (N, 2) points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ m[:, :2].T + m[:, 2]
