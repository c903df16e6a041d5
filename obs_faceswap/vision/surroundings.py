"""Morph the target's own surroundings with a moved face outline (embedded swap with shape transfer).

When the face takes the source's proportions (a narrower jaw, higher brows), the target's skin,
hair line and neck around the face must move with the new outline, or a ghost jaw or a double
chin shows where the old outline was. The target's region of interest (ROI) is warped piecewise
affinely: control points on the face (outline, brows, eyes, lips, nose) go from their old to their
new positions, and a ring of fixed points on the ROI's edge keeps the edge exactly where it was,
so nothing outside the ROI changes and nothing at its border jumps.

Pure functions on numpy arrays; one ``cv2.remap`` per face.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Frame, Points

MIN_TRIANGLE_AREA = 1e-3  # px²: a reused morph triangle smaller than this (or flipped) asks for a new triangulation
STILL_PX = 0.25  # pixels the morph moves by less than this keep their exact value
# mesh points that steer the surroundings: outline, brows, eyes, lips, nose (the rest follows them)
MORPH_POINTS = np.unique(np.array([
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149,
    150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,  # face outline
    70, 63, 105, 66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276,  # brows
    33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,  # right eye
    263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,  # left eye
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,  # outer lips
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,  # inner lips
    1, 2, 4, 5, 6, 168, 197, 195, 98, 327, 129, 358, 48, 278, 64, 294,  # nose
    205, 425, 50, 280, 187, 411, 214, 434, 18, 200, 199, 175, 151, 9, 8,  # cheeks, chin, mid-line
]))


def ring_points(size: tuple[int, int], spacing: float) -> Points:
    """Points on the border of an (h, w) region, about ``spacing`` pixels apart, corners included."""
    h, w = size
    xs = np.linspace(0.0, w - 1.0, max(2, int(np.ceil((w - 1) / max(spacing, 1.0))) + 1))
    ys = np.linspace(0.0, h - 1.0, max(2, int(np.ceil((h - 1) / max(spacing, 1.0))) + 1))[1:-1]
    top = np.column_stack([xs, np.zeros_like(xs)])
    bottom = np.column_stack([xs, np.full_like(xs, h - 1.0)])
    left = np.column_stack([np.zeros_like(ys), ys])
    right = np.column_stack([np.full_like(ys, w - 1.0), ys])
    return np.concatenate([top, bottom, left, right]).astype(np.float32)  # type: ignore[no-any-return]


def piecewise_maps(dst: Points, src: Points, triangles: npt.NDArray[np.int32], size: tuple[int, int],
                   step: int = 1) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``cv2.remap`` maps sending each pixel in a ``dst`` triangle to its affine image in ``src``, sampled on
    every ``step``-th pixel: (ceil(H/step), ceil(W/step)) arrays of full-resolution coordinates.
    Uncovered samples map to themselves."""
    from obs_faceswap.vision.swappers.classical.warp import triangle_affines, triangle_index_map

    h, w = size
    mh, mw = -(-h // step), -(-w // step)
    affines = triangle_affines(dst, src, triangles)
    idx = triangle_index_map(dst, triangles, (mh, mw), 1.0 / step)
    cover = idx > 0
    m = affines[np.maximum(idx - 1, 0)]
    ys, xs = np.mgrid[0:mh, 0:mw].astype(np.float32)
    xs = xs * np.float32(step) + np.float32((step - 1) / 2)
    ys = ys * np.float32(step) + np.float32((step - 1) / 2)
    map_x = np.where(cover, xs * m[..., 0, 0] + ys * m[..., 1, 0] + m[..., 2, 0], xs).astype(np.float32)
    map_y = np.where(cover, xs * m[..., 0, 1] + ys * m[..., 1, 1] + m[..., 2, 1], ys).astype(np.float32)
    return map_x, map_y


def _areas(pts: Points, tri: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
    t = pts[tri]
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # type: ignore[no-any-return]


def morph_triangles(dst: Points, src: Points, fixed: int, key: object, cache: dict[str, Any] | None = None
                    ) -> npt.NDArray[np.int32]:
    """Triangles over the morph's control points (``dst`` -> ``src``; the last ``fixed`` are the ROI's ring).

    The previous frame's from ``cache`` while every one of them still has some area and faces the
    same way at both ends (then they still tile the ROI without overlap: the ring is its fixed convex
    border), else a new Delaunay triangulation of ``dst`` (stored under ``key``). A control point of a
    triangle that would flip over (a turned head's lip corner moved past its cheek: the target's dark
    mouth would be drawn twice) is left out, so the morph is smoother there instead of folding.
    """
    from scipy.spatial import Delaunay

    found = None if cache is None else cache.get("morph_triangles")
    if found is not None and found[0] == key:
        tri = found[1]
        if (_areas(dst, tri) > MIN_TRIANGLE_AREA).all() and (_areas(src, tri) > 0).all():
            return tri  # type: ignore[no-any-return]
    keep = np.arange(len(dst))
    for _ in range(4):
        tri = keep[Delaunay(dst[keep].astype(np.float64)).simplices].astype(np.int32)
        flip = _areas(dst, tri) < 0  # one orientation for all (positive in x/y)
        tri[flip] = tri[flip][:, ::-1]
        folded = _areas(src, tri) <= 0
        if not folded.any():
            break
        bad = np.unique(tri[folded])
        keep = np.setdiff1d(keep, bad[bad < len(dst) - fixed])
    if cache is not None:
        cache["morph_triangles"] = (key, tri)
    return tri  # type: ignore[no-any-return]


def morph_surroundings(image: Frame, old: Points, new: Points, cache: dict[str, Any] | None = None) -> Frame:
    """``image`` (the target's ROI) warped so its face mesh moves from ``old`` to ``new`` (ROI pixels).

    The ROI's border stays fixed (a ring of control points on it), so the result meets the frame
    around the ROI without a seam. Returns ``image`` itself when nothing moves. ``cache`` (a dict
    kept between frames, e.g. the source's) lets the next frame reuse the triangulation.
    """
    h, w = image.shape[:2]
    if np.abs(new - old).max() < 0.05:
        return image
    face_size = float((old.max(0) - old.min(0)).max())
    ring = ring_points((h, w), max(8.0, face_size / 6.0))
    dst = np.concatenate([new[MORPH_POINTS], ring]).astype(np.float32)
    src = np.concatenate([old[MORPH_POINTS], ring]).astype(np.float32)
    n_top = int((ring[:, 1] == 0.0).sum())  # the ring's layout: points along the top and in all
    tri = morph_triangles(dst, src, len(ring), (n_top, len(ring)), cache)
    # the morph is smooth (piecewise affine over ~170 points): its displacement is computed on a coarse
    # grid and scaled up, which is exact inside each triangle and a fraction of a pixel off across edges
    step = max(1, min(4, int(min(h, w) // 48)))
    map_x, map_y = piecewise_maps(dst, src, tri, (h, w), step)
    mh, mw = map_x.shape
    gy, gx = np.mgrid[0:mh, 0:mw].astype(np.float32) * np.float32(step) + np.float32((step - 1) / 2)
    # where the morph barely moves (toward the ROI edge) the map is snapped to the identity, so those
    # pixels keep their exact value (bilinear sampling at a whole pixel is that pixel)
    still = (np.abs(map_x - gx) < STILL_PX) & (np.abs(map_y - gy) < STILL_PX)
    map_x[still] = gx[still]
    map_y[still] = gy[still]
    maps = cv2.merge([map_x, map_y])  # one two-channel map: one resize pass instead of two
    if step > 1:  # the maps are affine inside triangles: a linear resize of the coarse samples is exact there
        full = (mw * step, mh * step)
        maps = cv2.resize(maps, full, interpolation=cv2.INTER_LINEAR)[:h, :w]
    # the fixed ring: exactly the identity on the ROI's edge
    map_x, map_y = maps[..., 0], maps[..., 1]  # views
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    map_x[0, :] = map_x[-1, :] = xs
    map_y[0, :] = 0.0
    map_y[-1, :] = h - 1.0
    map_x[:, 0] = 0.0
    map_x[:, -1] = w - 1.0
    map_y[:, 0] = map_y[:, -1] = ys
    return cv2.remap(image, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[no-any-return]


def surround_margin(old: Points, new: Points) -> float:
    """Pixels of ROI margin around both meshes that the morph needs: room for the moved outline to
    fade out before the ROI's fixed edge (at least 12 % of the face size, 2x the largest move up to 30 %)."""
    face_size = float((old.max(0) - old.min(0)).max())
    move = float(np.abs(new - old).max()) if len(old) else 0.0
    return max(0.12 * face_size, min(2.0 * move, 0.3 * face_size))
