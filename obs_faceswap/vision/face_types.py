"""DeepFaceLab / DeepFaceLive face types: the one place that says how a face set and a DFM crop
are cut (``face``, ``whole_face``, ``head``).

The recipe (public facts of DeepFaceLive's ``FLandmarks2D.calc_cut``): fit a similarity
(Umeyama) from 25 of the 68 iBUG landmarks (brows 17-26, nose 27-35, eye corners 36/39/42/45,
mouth corners 48/54) to DFL's *uniform mean face* (coordinates in [0, 1]); map that unit square
back into the frame; scale its diagonal by ``coverage`` around its centre, shifted by
``y_offset`` of its height (negative = up, more forehead; DeepFaceLive's ``FaceAligner`` always
passes ``y_offset - 0.08``); in head mode also by ``x = -0.5 * yaw * |tanh(2 * yaw)|`` of its
width (the back of a turned head comes into view); the three corners give the affine to a
``size`` px square. The embedded detector's 468-point mesh provides the 68 landmarks through the
mesh -> iBUG-68 correspondence :data:`MESH_TO_68` below.

Used by the face-set extractor and DFM trainer (``train/``) and by the DFM swapper
(``vision/swappers/dfm.py``), so a model sees at inference the crop it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.align import Affine, estimate_similarity
from obs_faceswap.vision.types import Frame, Points


@dataclass(frozen=True)
class FaceType:
    name: str
    coverage: float  # diagonal of the crop / diagonal of the mean face's unit square
    y_offset: float  # shift of the crop centre in units of the mean face's height (negative = up)
    help: str
    head_shift: bool = False  # follow head turns (DeepFaceLive's head mode): x shift from the yaw


FACE_TYPES: dict[str, FaceType] = {
    "face": FaceType("face", 1.6, -0.08, "cheeks to chin, brows to mouth (DFL 'f')"),
    "whole_face": FaceType("whole_face", 2.2, -0.08, "the whole face with the forehead (DFL 'wf', DeepFaceLive's default)"),
    "head": FaceType("head", 3.0, -0.08, "the whole head with hair (DFL 'head')", head_shift=True),
}
DEFAULT_FACE_TYPE = "whole_face"

# DFL's uniform mean face for the 25 points used (iBUG order: 17..35, 36, 39, 42, 45, 48, 54).
UNI_LANDMARKS_25 = np.array([
    [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
    [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
    [0.904991, 0.038915], [0.98004, 0.106454],
    [0.490127, 0.203352], [0.490127, 0.307009], [0.490127, 0.409805], [0.490127, 0.515625],
    [0.36688, 0.587326], [0.426036, 0.609345], [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326],
    [0.121737, 0.216423], [0.334606, 0.231733], [0.645647, 0.231733], [0.858516, 0.216423],
    [0.254149, 0.780233], [0.726104, 0.780233],
], dtype=np.float64)

# The iBUG-68 landmarks from the 468-point mediapipe face mesh: for each of the 68 points, the mesh
# vertex at the same anatomical place (mesh canonical-face numbering). Jaw 0-16 from the image-left
# ear over the chin (8 = 152) to the image-right ear; brows 17-21 / 22-26 image left to right; nose
# bridge 27-30 to the tip; under the nose 31-35; eyes 36-41 / 42-47 from the outer / inner corner
# (33, 362); outer lips 48-59 from the left corner (61); inner lips 60-67 from the left inner corner
# (78). The alignment uses only the 25 points below, whose counterparts are well defined; the jaw
# is approximate (the mesh outline runs a little outside a 68-point jaw).
MESH_TO_68 = np.array([
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows 17-26
    168, 6, 197, 4,  # nose bridge to tip 27-30
    98, 97, 2, 326, 327,  # under the nose 31-35
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes 36-47
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips 60-67
])
# The iBUG-68 indices of those 25 points, and the face-mesh (468) points that play them.
IBUG_25 = np.array([*range(17, 36), 36, 39, 42, 45, 48, 54])
MESH_25 = MESH_TO_68[IBUG_25]


def landmarks68(landmarks: Points) -> npt.NDArray[np.float64]:
    """68 iBUG landmarks (x, y): given as such, or from a 468/478-point face mesh by :data:`MESH_TO_68`."""
    lm = np.asarray(landmarks, dtype=np.float64)
    lm = lm[:, :2] if lm.ndim == 2 and lm.shape[1] >= 2 else lm.reshape(-1, 2)
    if len(lm) == 68:
        return lm.copy()
    if len(lm) in (468, 478):
        return lm[MESH_TO_68]
    raise ValueError(f"face-type alignment needs 68 or 468 landmarks, got {len(lm)}")


def estimate_yaw(landmarks: Points) -> float:
    """A rough head yaw in radians (+ when the nose points image-right) from the nose tip's offset
    between the jaw's ends: enough for the head shift, not a pose estimate."""
    p = landmarks68(landmarks)
    left, right, nose = p[0], p[16], p[30]
    axis = right - left
    width = float(np.linalg.norm(axis)) or 1.0
    offset = float(np.dot(nose - (left + right) / 2.0, axis / width)) / (width / 2.0)
    return float(np.arcsin(np.clip(offset, -1.0, 1.0)))


def alignment_points(landmarks: Points) -> npt.NDArray[np.float64]:
    """The 25 points DFL aligns on, from 68 iBUG landmarks or a 468/478-point face mesh."""
    return landmarks68(landmarks)[IBUG_25]


def face_type(name: str) -> FaceType:
    try:
        return FACE_TYPES[name.replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown face type {name!r}; use one of {', '.join(FACE_TYPES)}") from None


def face_type_transform(landmarks: Points, kind: str | FaceType, size: int, *,
                        head_yaw: float | None = None) -> Affine:
    """Frame -> ``size`` px crop transform of face type ``kind`` for a face with these landmarks
    (a head-shift type uses ``head_yaw``, else the yaw :func:`estimate_yaw` reads from them)."""
    ft = face_type(kind) if isinstance(kind, str) else kind
    to_unit = estimate_similarity(alignment_points(landmarks), UNI_LANDMARKS_25)
    back = cv2.invertAffineTransform(to_unit)
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], np.float64) @ back[:, :2].T + back[:, 2]
    tl, tr, br, bl, centre = corners
    tb = (br - tl) / np.linalg.norm(br - tl)
    bt = (tr - bl) / np.linalg.norm(tr - bl)
    half = np.linalg.norm(br - tl) * ft.coverage * 0.5
    x_offset = 0.0
    if ft.head_shift:
        yaw = estimate_yaw(landmarks) if head_yaw is None else head_yaw
        x_offset = -(yaw * abs(np.tanh(yaw * 2.0))) * 0.5
    centre = centre + (tr - tl) * x_offset + (bl - tl) * ft.y_offset
    src = np.array([centre - tb * half, centre + bt * half, centre + tb * half], np.float64)
    dst = np.array([[0, 0], [size, 0], [size, size]], np.float64)
    return np.linalg.solve(np.hstack([src, np.ones((3, 1))]), dst).T  # the affine through 3 point pairs


def cut_face(frame: Frame, landmarks: Points, kind: str | FaceType, size: int) -> tuple[Frame, Affine]:
    """The ``size`` x ``size`` crop of face type ``kind`` (cubic, black outside the frame) and its transform."""
    m = face_type_transform(landmarks, kind, size)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_CUBIC, borderValue=0.0), m
