"""A mouth shape applied to the 468-point face mesh: lower lip and jaw drop, corners spread or round.

Geometry is worked out in a face-local frame: x along the eye line (subject's right eye to left
eye), y perpendicular to it (down the face), origin at the middle of the inner lips, unit = half
the mouth width. ``opening`` sets the gap between the inner lips as a share of the mouth width
(the gap the face already has is taken into account, so an open mouth in the photo can also be
closed); ``spread`` moves the mouth corners outward (> 0, "ee") or inward (< 0, rounded "oo").

The lower lip moves as a lens (full in the middle, little at the corners); the chin and jaw move
with it, less toward the jaw's hinge; the upper lip lifts a little. Every displacement is a smooth
function of the point's position, so the piecewise-affine warp that follows never tears.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.embedded import FACE_OVAL, INNER_LIPS, OUTER_LIPS
from obs_faceswap.vision.types import Points

UPPER_INNER_MID, LOWER_INNER_MID = 13, 14  # inner lip centres
MOUTH_CORNERS = (61, 291, 78, 308)  # outer and inner corners
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
CHIN = 152

OPEN_MAX = 0.45  # inner-lip gap at opening 1, as a share of the mouth width (a wide "ah")
UPPER_SHARE = 0.12  # the upper lip lifts by this share of the opening change
SPREAD_MAX = 0.14  # corner shift at spread +-1, as a share of the half mouth width
NARROW_WITH_OPEN = 0.10  # corners come in by this share of the half width at full opening
MIN_GAP_PX = 0.5  # the closed lips keep this gap (invisible), so the warp's triangles stay well-formed
JAW_EDGE_SHARE = 0.3  # how much the jaw's far edge (near the hinge) moves relative to the chin

_UPPER_LIP = np.array(sorted({*INNER_LIPS[:10], *OUTER_LIPS[:10]} - set(MOUTH_CORNERS)))
_LOWER_LIP = np.array(sorted({*INNER_LIPS[10:], *OUTER_LIPS[10:]} - set(MOUTH_CORNERS)))
# the lips in columns, subject's right to left: inner upper / inner lower / outer upper / outer lower
_COLUMNS = np.array([
    [191, 80, 81, 82, 13, 312, 311, 310, 415],
    [95, 88, 178, 87, 14, 317, 402, 318, 324],
    [185, 40, 39, 37, 0, 267, 269, 270, 409],
    [146, 91, 181, 84, 17, 314, 405, 321, 375],
])


class FaceFrame:
    """The face-local frame of a mesh: origin, axes and scales (see the module docstring)."""

    def __init__(self, mesh: Points) -> None:
        pts = mesh.astype(np.float64)
        x = pts[LEFT_EYE_OUTER] - pts[RIGHT_EYE_OUTER]
        self.ex = x / max(float(np.linalg.norm(x)), 1e-6)
        self.ey = np.array([-self.ex[1], self.ex[0]])  # 90 degrees clockwise on screen: down the face
        self.origin = (pts[UPPER_INNER_MID] + pts[LOWER_INNER_MID]) / 2.0
        self.mouth_w = max(float(abs((pts[MOUTH_CORNERS[1]] - pts[MOUTH_CORNERS[0]]) @ self.ex)), 1.0)
        self.chin = max(float((pts[CHIN] - self.origin) @ self.ey), 1.0)
        oval = (pts[FACE_OVAL] - self.origin) @ self.ex
        self.half_face = max(float(np.abs(oval).max()), self.mouth_w)

    def local(self, pts: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of frame points in this frame, in pixels."""
        d = np.asarray(pts, np.float64) - self.origin
        return d @ self.ex, d @ self.ey


def mouth_gap(mesh: Points) -> float:
    """Inner-lip gap (pixels, along the face's vertical axis) of a mesh."""
    f = FaceFrame(mesh)
    return float((mesh[LOWER_INNER_MID].astype(np.float64) - mesh[UPPER_INNER_MID]) @ f.ey)


def mouth_opening(mesh: Points) -> float:
    """Inner-lip gap as a share of the mouth width: 0 closed, about 0.5 for a wide "ah"."""
    return mouth_gap(mesh) / FaceFrame(mesh).mouth_w


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def jaw_weights(mesh: Points) -> tuple[np.ndarray, np.ndarray]:
    """Per point: how much it follows the lower lip's drop (0..1) and the upper lip's lift (0..1)."""
    f = FaceFrame(mesh)
    x, y = f.local(mesh)
    hw = f.mouth_w / 2.0
    u = x / hw
    lens = np.clip(1.0 - u * u, 0.0, 1.0) ** 0.5  # an elliptic opening
    lateral = 1.0 - (1.0 - JAW_EDGE_SHARE) * _smoothstep((np.abs(x) - hw) / max(f.half_face - hw, 1.0))
    below = _smoothstep(y / (0.25 * f.chin)) * lateral  # chin and jaw: ramp in just below the lip line
    down = below.copy()
    down[_LOWER_LIP] = np.maximum(lens[_LOWER_LIP], below[_LOWER_LIP])
    down[list(MOUTH_CORNERS)] = 0.3
    up = np.zeros(len(mesh))
    up[_UPPER_LIP] = lens[_UPPER_LIP]
    up[list(MOUTH_CORNERS)] = 0.1
    return down, up


def deform_mouth(mesh: Points, opening: float, spread: float = 0.0,
                 weights: tuple[np.ndarray, np.ndarray] | None = None) -> Points:
    """The mesh with the mouth set to ``opening`` (share of mouth width) and corners moved by ``spread``.

    ``weights`` (from ``jaw_weights`` of the same neutral mesh) may be passed to save work per frame.
    """
    f = FaceFrame(mesh)
    down, up = weights if weights is not None else jaw_weights(mesh)
    target = max(0.0, float(opening)) * OPEN_MAX * f.mouth_w
    delta = target - mouth_gap(mesh)  # the change of the inner-lip gap
    dy = delta * (down * (1.0 - UPPER_SHARE)) - delta * UPPER_SHARE * up
    x, y = f.local(mesh)
    hw = f.mouth_w / 2.0
    # the lips column by column: each column's gap set to the lens-shaped target, whatever the
    # face's own mouth was (a smile with teeth closes all along, not only in the middle)
    inner_up, inner_lo, outer_up, outer_lo = _COLUMNS
    u = (x[inner_up] + x[inner_lo]) / 2.0 / hw
    # never exactly shut: a zero-height triangle between the lips has no usable affine map
    desired = np.maximum(target * np.clip(1.0 - u * u, 0.0, 1.0) ** 0.5, MIN_GAP_PX)
    d = desired - (y[inner_lo] - y[inner_up])
    dy[inner_lo] = dy[outer_lo] = d * (1.0 - UPPER_SHARE)
    dy[inner_up] = dy[outer_up] = -d * UPPER_SHARE
    shift = (SPREAD_MAX * float(np.clip(spread, -1.0, 1.0)) - NARROW_WITH_OPEN * max(0.0, float(opening))) * hw
    sigma2 = 2.0 * (0.45 * f.mouth_w) ** 2
    dx = np.zeros(len(mesh))
    for side in (-1.0, 1.0):  # each corner pulls the skin around it sideways
        d2 = (x - side * hw) ** 2 + (y * 1.3) ** 2
        dx += side * shift * np.exp(-d2 / sigma2)
    out = mesh.astype(np.float64) + np.outer(dx, f.ex) + np.outer(dy, f.ey)
    return out.astype(np.float32)  # type: ignore[no-any-return]
