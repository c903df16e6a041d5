"""Shape transfer for the embedded swap: the source's face proportions in the target's pose and expression.

Face recognisers (and people) judge identity largely by geometry: eye spacing and size, nose
length and width, mouth width, face width and jaw line, brow height. Warping the source's skin
onto the target's 468-point mesh keeps all of that the target's. Here the mesh is treated as 3-D
(x, y in pixels and the face mesh's own depth in the same units):

1. pose: a 3-D similarity (rotation, scale, shift; Umeyama) fitted on the rigid parts of the face
   brings the source mesh into the target's pose;
2. shape offsets: the aligned source minus the target, expressed in the target face's own axes,
   with the target's expression kept: each eye and the mouth move and scale as a whole (corners
   to the source's corners) so lid opening and mouth opening stay the target's, and the chin and
   lower jaw are corrected by the difference in mouth opening (the jaw drop is expression, the
   chin's length is identity);
3. the output mesh = target + strength x offsets, rotated back into the target's pose.

Live (a tracked face), the offsets are taken against the face's running neutral shape instead of
the current frame (``update_neutral``, ``expression_reference``): output = source + the target's
expression change from its neutral, so a brow raise, a smile's cheeks or a frown carry over, and the
source's brow height (shape) stays. On a single photo the neutral is the photo itself: its brow raise
cannot be told from brow height and is taken as shape.

Everything here is a pure function on numpy arrays. Several source photos are averaged after
Procrustes alignment (``average_shape``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

UNFOLD_MIN_AREA = 0.1  # a mesh triangle may shrink to this share of its area, never fold over
UNFOLD_SOFT = 0.2  # ...and moves start being pulled back this much above it
NEUTRAL_SECONDS = 4.0  # a tracked face's neutral shape: the mean over the first seconds, then this time constant
UNFOLD_RADIUS = 0.04  # share of the face size over which moves are pulled back around a folding triangle
Mesh3 = npt.NDArray[np.float64]  # (468, 3): x, y (pixels, y down), depth (same units, away from the camera)

RIGHT_EYE_CORNERS = (33, 133)  # subject's right eye (image left): outer, inner
LEFT_EYE_CORNERS = (263, 362)
MOUTH_CORNERS = (61, 291)
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
NOSE_BRIDGE, NOSE_BASE = 168, 2
CHIN = 152
# mesh rings around each eye (lids, lashes, the skin between lid and brow) and the lips: the
# regions whose shape is mostly expression (lid closure, mouth opening, smile)
RIGHT_EYE_REGION = np.array([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
                             130, 25, 110, 24, 23, 22, 26, 112, 243, 190, 56, 28, 27, 29, 30, 247,
                             226, 31, 228, 229, 230, 231, 232, 233, 244, 189, 221, 222, 223, 224, 225, 113])
LEFT_EYE_REGION = np.array([263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
                            359, 255, 339, 254, 253, 252, 256, 341, 463, 414, 286, 258, 257, 259, 260, 467,
                            446, 261, 448, 449, 450, 451, 452, 453, 464, 413, 441, 442, 443, 444, 445, 342])
LIPS_REGION = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
                        78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
                        76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306, 307, 320, 404, 315, 16, 85, 180, 90, 77,
                        62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292, 325, 319, 403, 316, 15, 86, 179, 89, 96])
UPPER_LIP = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 78, 191, 80, 81, 82, 13, 312, 311, 310,
                      415, 308, 76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306, 62, 183, 42, 41, 38, 12, 268,
                      271, 272, 407, 292])


def mesh3(points: npt.ArrayLike, depth: npt.ArrayLike | None) -> Mesh3:
    """(N, 3) float64 mesh from (N, 2) pixel points and the mesh's depth (zeros when unknown)."""
    p = np.asarray(points, np.float64)
    z = np.zeros(len(p)) if depth is None else np.asarray(depth, np.float64).reshape(-1)
    return np.column_stack([p[:, :2], z])


def similarity_fit(src: Mesh3, dst: Mesh3, weights: npt.ArrayLike | None = None,
                   scale: bool = True) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Weighted Umeyama fit: (s, R, t) minimising sum w |s R src + t - dst|^2, R a proper rotation."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    u, sv, vt = np.linalg.svd(cov)
    d = np.ones(len(sv))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    r = u @ np.diag(d) @ vt
    var = float((w * (a * a).sum(1)).sum())
    s = float((sv * d).sum() / max(var, 1e-12)) if scale else 1.0
    return s, r, mu_d - s * r @ mu_s


def procrustes_distance(a: Mesh3, b: Mesh3, weights: npt.ArrayLike | None = None) -> float:
    """RMS distance between two meshes after the best similarity (3-D), in units of ``b``'s size."""
    s, r, t = similarity_fit(a, b, weights)
    res = (a @ r.T) * s + t - b
    size = float(np.ptp(b[:, :2], axis=0).max())
    w = np.ones(len(a)) if weights is None else np.asarray(weights, np.float64)
    return float(np.sqrt((w * (res * res).sum(1)).sum() / w.sum())) / max(size, 1e-9)


def rotation_angle_deg(r: npt.NDArray[np.float64]) -> float:
    """The angle of a 3-D rotation matrix, in degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


def face_axes(mesh: Mesh3) -> npt.NDArray[np.float64]:
    """(3, 3) rows: the face's own right (across the eyes), down (nose bridge to nose base) and depth axes."""
    across = mesh[LEFT_EYE_CORNERS[0]] - mesh[RIGHT_EYE_CORNERS[0]]
    x = across / max(float(np.linalg.norm(across)), 1e-9)
    down = mesh[NOSE_BASE] - mesh[NOSE_BRIDGE]
    y = down - x * float(down @ x)
    y = y / max(float(np.linalg.norm(y)), 1e-9)
    return np.stack([x, y, np.cross(x, y)])


def rigid_weights(mesh: Mesh3) -> npt.NDArray[np.float64]:
    """Per-point weights for pose fitting: the lips, the lids and the lower jaw (which move with
    expression) count a fifth."""
    w = np.ones(len(mesh))
    w[LIPS_REGION] = 0.2
    w[RIGHT_EYE_REGION[:16]] = 0.2
    w[LEFT_EYE_REGION[:16]] = 0.2
    local = (mesh - mesh.mean(0)) @ face_axes(mesh).T
    below = local[:, 1] > local[MOUTH_CORNERS[0], 1]
    w[below] = 0.2
    return w


def mouth_opening(mesh: npt.ArrayLike) -> float:
    """Inner-lip gap / mouth width (the expression the output keeps)."""
    p = np.asarray(mesh, np.float64)
    return float(np.linalg.norm(p[LIP_UPPER_INNER] - p[LIP_LOWER_INNER])
                 / max(float(np.linalg.norm(p[78] - p[308])), 1e-9))


def align_to(source: Mesh3, target: Mesh3) -> Mesh3:
    """``source`` brought into ``target``'s pose and size by a 3-D similarity on the rigid points."""
    s, r, t = similarity_fit(source, target, rigid_weights(target))
    return (source @ r.T) * s + t  # type: ignore[no-any-return]


def _corner_similarity(t_pts: npt.NDArray[np.float64], s_pts: npt.NDArray[np.float64], corners: tuple[int, int]
                       ) -> npt.NDArray[np.float64]:
    """Offsets (N, 2) that move ``t_pts`` by the 2-D similarity taking the target's ``corners`` to the source's."""
    c0, c1 = corners
    va, vb = t_pts[c1] - t_pts[c0], s_pts[c1] - s_pts[c0]
    ca, cb = complex(va[0], va[1]), complex(vb[0], vb[1])
    m = cb / ca if abs(ca) > 1e-9 else 1.0
    a, b = t_pts[c0], s_pts[c0]
    rel = (t_pts[:, 0] - a[0]) + 1j * (t_pts[:, 1] - a[1])
    moved = rel * m + complex(b[0], b[1])
    return np.column_stack([moved.real, moved.imag]) - t_pts


def _region_weight(local: npt.NDArray[np.float64], centre: npt.NDArray[np.float64], rx: float, ry: float
                   ) -> npt.NDArray[np.float64]:
    """1 inside the ellipse (rx, ry) around ``centre``, falling smoothly to 0 at 1.6x its radii."""
    d = np.sqrt(((local[:, 0] - centre[0]) / rx) ** 2 + ((local[:, 1] - centre[1]) / ry) ** 2)
    t = np.clip((1.6 - d) / 0.6, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)  # type: ignore[no-any-return]


def shape_offsets(source: Mesh3, target: Mesh3) -> npt.NDArray[np.float64]:
    """(468, 3) neutral-shape offsets, source minus target, in the target face's own axes.

    The target's expression is kept: each eye region and the lips follow the source's corners as
    a whole (position, size, tilt: the target's lid and mouth opening ratios survive), and the
    lower face's offsets have the difference in mouth opening taken out (jaw drop).
    """
    axes = face_axes(target)
    centre = target.mean(0)
    t_loc = (target - centre) @ axes.T
    s_loc = (align_to(source, target) - centre) @ axes.T
    off = s_loc - t_loc
    eye_w = float(np.linalg.norm(t_loc[RIGHT_EYE_CORNERS[0], :2] - t_loc[RIGHT_EYE_CORNERS[1], :2])
                  + np.linalg.norm(t_loc[LEFT_EYE_CORNERS[0], :2] - t_loc[LEFT_EYE_CORNERS[1], :2])) / 2

    # the jaw drop: the mouth's opening is the target's, so the chin keeps the target's drop
    gap_t = t_loc[LIP_LOWER_INNER, 1] - t_loc[LIP_UPPER_INNER, 1]
    gap_s = s_loc[LIP_LOWER_INNER, 1] - s_loc[LIP_UPPER_INNER, 1]
    hinge = float(t_loc[[234, 454], 1].mean())  # outline at the ears: where the jaw turns
    lower = float(t_loc[LIP_LOWER_INNER, 1])
    drop = np.clip((t_loc[:, 1] - hinge) / max(lower - hinge, 1e-9), 0.0, 1.0) ** 2
    drop[UPPER_LIP] = 0.0
    off[:, 1] -= drop * (gap_s - gap_t)

    # the eyes and the mouth as a whole: corners to the source's corners, opening kept
    for corners, region, rx, ry in ((RIGHT_EYE_CORNERS, RIGHT_EYE_REGION, 0.75, 0.45),
                                    (LEFT_EYE_CORNERS, LEFT_EYE_REGION, 0.75, 0.45),
                                    (MOUTH_CORNERS, LIPS_REGION, 0.55, 0.3)):
        c0, c1 = corners
        width = float(np.linalg.norm(t_loc[c0, :2] - t_loc[c1, :2]))
        scale = width if region is LIPS_REGION else eye_w
        rigid = _corner_similarity(t_loc[:, :2], s_loc[:, :2], corners)
        w = _region_weight(t_loc[:, :2], (t_loc[c0, :2] + t_loc[c1, :2]) / 2, rx * scale, ry * scale)
        w[region] = 1.0
        off[:, :2] = off[:, :2] * (1.0 - w[:, None]) + rigid * w[:, None]
        off[:, 2] = off[:, 2] * (1.0 - w) + float(off[region, 2].mean()) * w
    return off  # type: ignore[no-any-return]


def apply_offsets(target: Mesh3, offsets: npt.NDArray[np.float64], strength: float = 1.0
                  ) -> npt.NDArray[np.float32]:
    """The target's mesh moved by ``strength`` x ``offsets`` (target face axes): (468, 2) pixels."""
    axes = face_axes(target)
    moved = target + (offsets * float(strength)) @ axes
    return moved[:, :2].astype(np.float32)  # type: ignore[no-any-return]


def transfer_shape(source: Mesh3, target: Mesh3, strength: float = 1.0, reference: Mesh3 | None = None
                   ) -> npt.NDArray[np.float32]:
    """The target's mesh (468, 2) with the source's face proportions at ``strength`` (0 = unchanged).

    ``reference``: the mesh the offsets are taken against (``expression_reference``: a tracked face's
    neutral, so the target's expression change from it is kept); the target itself when None."""
    if strength <= 0.0:
        return target[:, :2].astype(np.float32)  # type: ignore[no-any-return]
    return apply_offsets(target, shape_offsets(source, target if reference is None else reference), strength)


def update_neutral(neutral: Mesh3 | None, current: Mesh3, weight: float) -> Mesh3:
    """A tracked face's running neutral shape: ``current`` brought into ``neutral``'s pose and size (3-D
    similarity on the rigid points) and mixed in with ``weight``; ``current`` itself at first."""
    if neutral is None or len(neutral) != len(current):
        return np.array(current, np.float64)
    return neutral + (align_to(current, neutral) - neutral) * float(weight)  # type: ignore[no-any-return]


def expression_reference(current: Mesh3, neutral: Mesh3) -> Mesh3:
    """What the shape offsets of ``current`` are taken against: its ``neutral`` shape in the current pose,
    except the lids, the lips and the lower jaw, which are ``current``'s own (their opening is kept per
    frame by ``shape_offsets``). The output is then the source plus the target's expression change
    from its neutral (brow raise, cheeks, frown) where it was the source alone."""
    w = rigid_weights(current)
    s, r, t = similarity_fit(neutral, current, w)  # align_to, with the weights used once more below
    ref = (neutral @ r.T) * s + t
    per_frame = w < 1.0  # lips, lids and the jaw below the mouth corners
    ref[per_frame] = current[per_frame]
    return ref  # type: ignore[no-any-return]


def average_shape(meshes: Sequence[Mesh3], weights: Sequence[float] | None = None, iterations: int = 3) -> Mesh3:
    """Generalised Procrustes mean of several meshes of one person (in the first mesh's frame and size).

    Each mesh is aligned (3-D similarity on its rigid points) to the running mean, which is then
    re-estimated; the result keeps the first mesh's pose, position and size.
    """
    if not meshes:
        raise ValueError("average_shape needs at least one mesh")
    w = np.ones(len(meshes)) if weights is None else np.asarray(weights, np.float64)
    mean = np.asarray(meshes[0], np.float64)
    for _ in range(iterations):
        aligned = np.stack([align_to(np.asarray(m, np.float64), mean) for m in meshes])
        mean = np.tensordot(w / w.sum(), aligned, axes=1)
    first = np.asarray(meshes[0], np.float64)
    return align_to(mean, first)


def hold_region(old: npt.NDArray[np.float32], new: npt.NDArray[np.float32], region: npt.ArrayLike, grow: float
                ) -> npt.NDArray[np.float32]:
    """``new`` with every point inside ``region``'s polygon grown ``grow`` x about its centre back at
    ``old`` (the user keeps that part, e.g. their own lips), blending in over another half of that size."""
    poly = old[np.asarray(region)]
    c = poly.mean(0)
    radius = np.linalg.norm(poly - c, axis=1)
    ang = np.arctan2(poly[:, 1] - c[1], poly[:, 0] - c[0])
    d = old - c
    pa = np.arctan2(d[:, 1], d[:, 0])
    # the region's radius toward each point (nearest polygon vertex by angle)
    near = np.abs(((pa[:, None] - ang[None, :]) + np.pi) % (2 * np.pi) - np.pi).argmin(1)
    rel = np.linalg.norm(d, axis=1) / np.maximum(radius[near] * grow, 1e-6)
    t = np.clip((rel - 1.0) / 0.5, 0.0, 1.0)
    w = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    return (old + (new - old) * w[:, None]).astype(np.float32)  # type: ignore[no-any-return]


def _signed_areas(pts: npt.NDArray[np.float32], triangles: npt.NDArray[np.int32]) -> npt.NDArray[np.float64]:
    t = pts[triangles].astype(np.float64)
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # type: ignore[no-any-return]


def unfold(old: npt.NDArray[np.float32], new: npt.NDArray[np.float32], triangles: npt.NDArray[np.int32],
           min_area: float = UNFOLD_MIN_AREA, iterations: int = 4) -> npt.NDArray[np.float32]:
    """``new`` with the moves pulled back smoothly around places where the mesh would fold over or squash.

    A triangle whose area would shrink toward ``min_area`` of its old area, or flip over, warps a
    stretch of skin onto itself (doubled highlights, a nose pressed into the lip). Around each such
    triangle the moves are pulled toward their local average (Gaussian over ``UNFOLD_RADIUS`` of the
    face size: a locally uniform move cannot fold, and the region keeps its share of the new shape;
    pulling toward no move instead left the nose at a third of it), the more the closer it gets to
    ``min_area`` (continuous, so a tracked face's small changes do not make it jump); after
    ``iterations`` rounds the moves are dropped where a fold is still left.
    """
    old = old.astype(np.float32)
    move = new.astype(np.float32) - old
    a_old = _signed_areas(old, triangles)
    big = np.abs(a_old) > 1e-3 * max(float(np.abs(a_old).max()), 1e-9)
    tri = triangles[big]
    a_old = a_old[big]
    r2 = 2.0 * (UNFOLD_RADIUS * float((old.max(0) - old.min(0)).max())) ** 2
    soft = min_area + UNFOLD_SOFT
    for _ in range(iterations):
        ratio = _signed_areas(old + move, tri) / a_old
        bad = np.clip((soft - ratio) / (soft - min_area), 0.0, 1.0)
        hit = bad > 0
        if not hit.any():
            return old + move  # type: ignore[no-any-return]
        centres = old[tri[hit]].mean(1)  # (B, 2)
        d2 = ((old[:, None, :] - centres[None, :, :]) ** 2).sum(-1)  # (N, B)
        near_w = np.exp(-d2 / r2).astype(np.float32)  # (N, B)
        weight = near_w * bad[hit][None, :].astype(np.float32)
        pull = weight.max(1)
        # pulled toward the moves' average around the squashed triangles (Gaussian-weighted), not
        # toward no move: a locally uniform move never folds a triangle, and the region keeps its
        # share of the new shape
        around = (near_w.T @ move) / np.maximum(near_w.sum(0), np.float32(1e-6))[:, None]  # (B, 2)
        local = (weight @ around) / np.maximum(weight.sum(1), np.float32(1e-6))[:, None]
        move += (local - move) * pull[:, None]
    folded = _signed_areas(old + move, tri) / a_old < min_area
    move[np.unique(tri[folded])] = 0.0
    return old + move  # type: ignore[no-any-return]
