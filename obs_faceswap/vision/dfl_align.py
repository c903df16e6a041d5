"""DeepFaceLab / DeepFaceLive face alignment: the crop a DFM model was trained on.

One place for these maths (the DFM swapper uses it; a DFM exporter/trainer should too).

The alignment (facts from DeepFaceLive's ``FLandmarks2D.calc_cut`` and ``FaceAligner``):

1. Umeyama similarity fit of a 25-point subset of the 68 landmarks (brows 17-26, nose 27-35,
   the eye corners 36/39/42/45, the mouth corners 48/54) to :data:`UNI_LANDMARKS_68`, the mean
   face in a uniform [0, 1] square;
2. the square's corners and centre mapped back into the frame; the crop is a square around the
   centre, its half-diagonal ``coverage`` x half the mapped unit square's diagonal, along the
   mapped diagonals (so rotation follows the face);
3. the centre moves by ``x_offset`` / ``y_offset`` times the mapped unit square's sides; the
   aligner always adds ``y = -0.08`` (a little more forehead), and in head mode
   ``x -= 0.5 * yaw * |tanh(2 * yaw)|`` (the head's back comes into view as it turns);
4. an affine map from three crop corners (top-left, top-right, bottom-right) to the output size.

Face types (the DFL ``face_type`` a model was trained with) -> coverage: ``face`` 1.6,
``whole_face`` 2.2 (DeepFaceLive's default), ``head`` 3.0 with the head shift.

The 68 points come from a 68-point landmark model when one is present, else from the embedded
468-point face mesh through :data:`MESH_TO_68` (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.align import Affine, estimate_similarity

# DeepFaceLive's uni_landmarks_68: the 25 points of the 68-point mean face used for the fit, in the
# order of ALIGN_INDICES (17..35, then 36, 39, 42, 45, 48, 54), uniform [0, 1] coordinates.
UNI_LANDMARKS_68 = np.array([
    [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
    [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
    [0.904991, 0.038915], [0.98004, 0.106454],                                   # brows 17-26
    [0.490127, 0.203352], [0.490127, 0.307009], [0.490127, 0.409805], [0.490127, 0.515625],  # bridge 27-30
    [0.36688, 0.587326], [0.426036, 0.609345], [0.490127, 0.628106], [0.554217, 0.609345],
    [0.613373, 0.587326],                                                         # nostrils 31-35
    [0.121737, 0.216423], [0.334606, 0.231733],                                   # eye 36, 39
    [0.645647, 0.231733], [0.858516, 0.216423],                                   # eye 42, 45
    [0.254149, 0.780233], [0.726104, 0.780233],                                   # mouth 48, 54
], dtype=np.float64)
ALIGN_INDICES = (*range(17, 36), 36, 39, 42, 45, 48, 54)

# Face type -> (coverage, head shift). DeepFaceLive's aligner default is whole face at 2.2.
FACE_TYPES: dict[str, tuple[float, bool]] = {"face": (1.6, False), "whole_face": (2.2, False), "head": (3.0, True)}
Y_OFFSET = -0.08  # FaceAligner: y_offset - 0.08

# The 68-point (iBUG / dlib) landmarks from the 468-point mediapipe face mesh: for each of the 68
# points, the mesh vertex at the same anatomical place (the mesh's canonical-face vertex
# numbering). Jaw 0-16 runs from the image-left ear to the image-right ear over the chin (8 = 152);
# brows 17-21 / 22-26, nose bridge 27-30 (168, 197, 5, 4) and nostrils 31-35, eyes 36-41 / 42-47
# starting at the outer corner (33 / 362 inner), outer lips 48-59 from the left corner (61) and
# inner lips 60-67 from the left inner corner (78). The alignment uses only brows, nose, eye and
# mouth corners, whose mesh counterparts are well defined; the jaw is approximate (the mesh outline
# runs a little outside a 68-point jaw).
MESH_TO_68 = np.array([
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,   # jaw 0-16
    70, 63, 105, 66, 107,                                                                 # brow 17-21
    336, 296, 334, 293, 300,                                                              # brow 22-26
    168, 197, 5, 4,                                                                       # bridge 27-30
    75, 97, 2, 326, 305,                                                                  # nostrils 31-35
    33, 160, 158, 133, 153, 144,                                                          # eye 36-41
    362, 385, 387, 263, 373, 380,                                                         # eye 42-47
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                                  # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,                                                    # inner lips 60-67
], dtype=np.int64)


@dataclass(frozen=True)
class DflCut:
    """One face's crop: ``matrix`` maps the frame to the ``size`` px crop."""

    matrix: Affine
    size: int


def landmarks68_from_mesh(mesh: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The 68 points (x, y) from a (468 or 478, 2+) face mesh, by :data:`MESH_TO_68`."""
    pts = np.asarray(mesh, dtype=np.float64)
    if pts.ndim != 2 or len(pts) < 468 or pts.shape[1] < 2:
        raise ValueError(f"need the 468-point face mesh, got shape {pts.shape}")
    return pts[MESH_TO_68, :2].copy()


def estimate_yaw(lmrks68: npt.ArrayLike) -> float:
    """A rough head yaw (radians, + when the nose points image-right) from the nose tip's offset to
    the jaw's ends: enough for the head shift, not a pose estimate."""
    p = np.asarray(lmrks68, dtype=np.float64)
    left, right, nose = p[0], p[16], p[30]
    axis = right - left
    width = float(np.linalg.norm(axis)) or 1.0
    offset = float(np.dot(nose - (left + right) / 2.0, axis / width)) / (width / 2.0)
    return float(np.arcsin(np.clip(offset, -1.0, 1.0)))


def dfl_cut(lmrks68: npt.ArrayLike, size: int, *, coverage: float = 2.2, x_offset: float = 0.0,
            y_offset: float = Y_OFFSET, head_yaw: float | None = None) -> DflCut:
    """The frame -> crop transform of DeepFaceLive's ``calc_cut`` for 68 landmarks in frame pixels."""
    p = np.asarray(lmrks68, dtype=np.float64).reshape(-1, 2)
    if len(p) != 68:
        raise ValueError(f"need 68 landmarks, got {len(p)}")
    to_uni = estimate_similarity(p[list(ALIGN_INDICES)], UNI_LANDMARKS_68)
    a = np.vstack([to_uni, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(a)[:2]
    corners = np.array([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)], np.float64)
    g = corners @ inv[:, :2].T + inv[:, 2]
    centre = g[4].copy()
    tb = (g[2] - g[0]) / np.linalg.norm(g[2] - g[0])
    bt = (g[1] - g[3]) / np.linalg.norm(g[1] - g[3])
    mod = float(np.linalg.norm(g[0] - g[2])) * coverage * 0.5
    if head_yaw is not None:
        x_offset += -(head_yaw * abs(np.tanh(head_yaw * 2.0))) * 0.5
    centre += (g[1] - g[0]) * x_offset + (g[3] - g[0]) * y_offset
    src = np.array([centre - tb * mod, centre + bt * mod, centre + tb * mod], np.float64)
    dst = np.array([(0, 0), (size, 0), (size, size)], np.float64)
    return DflCut(_affine_3(src, dst), int(size))


def face_type_cut(lmrks68: npt.ArrayLike, size: int, face_type: str = "whole_face") -> DflCut:
    """:func:`dfl_cut` with a face type's coverage (and, for ``head``, the yaw shift)."""
    try:
        coverage, head = FACE_TYPES[face_type]
    except KeyError:
        raise ValueError(f"unknown face type {face_type!r}; use one of {', '.join(FACE_TYPES)}") from None
    return dfl_cut(lmrks68, size, coverage=coverage, head_yaw=estimate_yaw(lmrks68) if head else None)


def _affine_3(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> Affine:
    """The affine transform taking three points onto three (like ``cv2.getAffineTransform``, in float64)."""
    a = np.hstack([src, np.ones((3, 1))])
    return np.linalg.solve(a, dst).T.astype(np.float64)

