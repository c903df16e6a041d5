"""The classical swapper's warp: the source face mapped onto the target's face mesh.

One affine matrix per Delaunay triangle (target -> source), solved for all triangles at once; a
per-pixel triangle-index map (half resolution for large faces) turned into two float maps by one
vectorised gather; a single ``cv2.remap`` of the source crop, taken from the pyramid level just
above the target's size. Triangles that fold over on a turned head are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Frame, Mask, Points

CUBIC_MAX_PIXELS = 200 * 200  # bigger ROIs are warped bilinearly
HALF_RES_FROM = 96  # ROIs at least this big compute the warp maps at half resolution


@dataclass
class ClassicalSource:
    """A prepared source identity: its face crop, mesh and triangles (built once)."""

    image: Frame  # source crop (BGR), face inside with a margin
    points: Points  # (468, 2) mesh in crop pixels
    triangles: npt.NDArray[np.int32]  # (T, 3) Delaunay triangles over ``points``
    photo_index: int = 0
    cache: dict[str, Any] = field(default_factory=dict)
    shape: npt.NDArray[np.float64] | None = None  # (468, 3) mesh with depth for shape transfer (crop pixels)

    def forget_frames(self) -> None:
        """Forget the last frame's morph triangulation (``morph_triangles`` reuses it on the next)."""
        self.cache.pop("morph_triangles", None)


def triangle_affines(dst: Points, src: Points, triangles: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
    """(T, 3, 2) matrices M with [x, y, 1] @ M = source point, for every triangle at once."""
    d = dst[triangles].astype(np.float64)  # (T, 3, 2)
    s = src[triangles].astype(np.float64)
    # closed form (Cramer's rule, relative to each triangle's first corner): M's linear part L solves
    # [d1-d0; d2-d0] L = [s1-s0; s2-s0], and its last row is s0 - d0 L
    e = d[:, 1:] - d[:, :1]  # (T, 2, 2)
    f = s[:, 1:] - s[:, :1]
    det = e[:, 0, 0] * e[:, 1, 1] - e[:, 0, 1] * e[:, 1, 0]
    ok = np.abs(det) > 1e-6
    inv = np.empty_like(e)
    safe = np.where(ok, det, 1.0)
    inv[:, 0, 0], inv[:, 0, 1] = e[:, 1, 1] / safe, -e[:, 0, 1] / safe
    inv[:, 1, 0], inv[:, 1, 1] = -e[:, 1, 0] / safe, e[:, 0, 0] / safe
    lin = inv @ f  # (T, 2, 2)
    m = np.zeros((len(triangles), 3, 2))
    m[:, :2] = lin
    m[:, 2] = s[:, 0] - (d[:, 0, None, :] @ lin)[:, 0]
    m[~ok] = 0.0
    return m.astype(np.float32)


def triangle_index_map(dst: Points, triangles: npt.NDArray[np.int32], size: tuple[int, int],
                       scale: float = 1.0) -> npt.NDArray[np.int32]:
    """(H, W) index+1 of the triangle covering each pixel centre (0 = none), at ``scale`` of ``size``."""
    h, w = size
    out = np.zeros((h, w), np.int32)
    shift = 4  # sub-pixel precision for fillConvexPoly
    polys = np.round(dst[triangles] * np.float32(scale * (1 << shift))).astype(np.int32)
    for i, poly in enumerate(polys):
        cv2.fillConvexPoly(out, poly, i + 1, cv2.LINE_8, shift)
    return out


def source_level(source: ClassicalSource, target_size: float) -> tuple[Frame, Points, float]:
    """The source crop at the pyramid level nearest above the target face's size: (image, points, upscale).

    Levels halve the crop (``INTER_AREA``) and are cached on the source, so a small target face is
    not sampled sparsely from a big source (aliasing); ``upscale`` = target face / level face size.
    """
    src_size = float((source.points.max(0) - source.points.min(0)).max())
    level = 0
    while src_size / (2 ** (level + 1)) >= target_size / 0.7 and level < 4:
        level += 1
    key = f"level{level}"
    if key not in source.cache:
        if level == 0:
            source.cache[key] = (source.image, source.points)
        else:
            h, w = source.image.shape[:2]
            f = 0.5 ** level
            nw, nh = max(1, round(w * f)), max(1, round(h * f))
            img = cv2.resize(source.image, (nw, nh), interpolation=cv2.INTER_AREA)
            scale = np.float32([nw / w, nh / h])
            source.cache[key] = (img, (source.points + 0.5) * scale - 0.5)
    img, pts = source.cache[key]
    return img, pts, target_size / max(src_size * 0.5 ** level, 1.0)


def warp_source(source: ClassicalSource, dst: Points, size: tuple[int, int]) -> tuple[Frame, Mask]:
    """The source face warped onto ``dst`` (mesh in ROI pixels) with ONE remap; plus its coverage (0/1).

    The source is sampled from the pyramid level just above the target's size (no aliasing when
    a big source photo meets a small face), bicubic where the face is enlarged.
    """
    h, w = size
    target_size = float((dst.max(0) - dst.min(0)).max())
    image, points, upscale = source_level(source, target_size)
    step = 2 if min(h, w) >= HALF_RES_FROM else 1  # maps are piecewise affine and continuous: half-res is exact inside
    mh, mw = -(-h // step), -(-w // step)
    triangles = visible_triangles(dst, points, source.triangles)
    affines = triangle_affines(dst, points, triangles)
    idx = triangle_index_map(dst, triangles, (mh, mw), 1.0 / step)
    cover = idx > 0
    m = affines[np.maximum(idx - 1, 0)]  # (mh, mw, 3, 2)
    ys, xs = np.mgrid[0:mh, 0:mw].astype(np.float32)
    xs = xs * np.float32(step) + np.float32((step - 1) / 2)
    ys = ys * np.float32(step) + np.float32((step - 1) / 2)
    # one two-channel map (x, y), resized in one pass and handed to remap whole
    maps = np.empty((mh, mw, 2), np.float32)
    maps[..., 0] = xs * m[..., 0, 0] + ys * m[..., 1, 0] + m[..., 2, 0]
    maps[..., 1] = xs * m[..., 0, 1] + ys * m[..., 1, 1] + m[..., 2, 1]
    maps[~cover] = -1.0
    cov = cover.astype(np.float32)
    if len(triangles) < len(source.triangles):  # holes where folded triangles were left out: soft edges
        # (on the map grid: the softening is wider than a grid cell)
        e = max(1, int(round(0.015 * target_size / step)))
        inner = cv2.erode(cov, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1)))
        cov = cv2.GaussianBlur(inner, (0, 0), e) * cov  # 0 wherever no triangle covers
    if step > 1:
        full = (mw * step, mh * step)  # exact factor, then crop: keeps pixel centres aligned
        maps = cv2.resize(maps, full, interpolation=cv2.INTER_LINEAR)[:h, :w]
        both = cv2.resize(cv2.merge([cov, cover.astype(np.float32)]), full, interpolation=cv2.INTER_LINEAR)[:h, :w]
        cov = both[..., 0] * (both[..., 1] > 0.999)  # 0 on pixels where a map sample around them was not covered
    # bicubic where the face is enlarged, unless the region is big (4x the cost of bilinear there, and
    # match_sharpness restores the detail a big, soft source lacks anyway)
    interp = cv2.INTER_CUBIC if upscale > 1.0 and h * w <= CUBIC_MAX_PIXELS else cv2.INTER_LINEAR
    warped = cv2.remap(image, maps, None, interp, borderMode=cv2.BORDER_REPLICATE)
    return warped, cov


def visible_triangles(dst: Points, src: Points, triangles: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """The triangles that face the camera in the target as in the source (same orientation).

    On a turned head the far cheek's and the nose side's triangles fold over (their orientation
    flips): warping them would paint source pixels from beyond the face outline (hair, ear,
    background) as dark dots and grey patches over the visible cheek. They are left out; the
    target's own pixels show there.
    """
    def signed_area(p: Points) -> npt.NDArray[np.float32]:
        t = p[triangles]
        a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # type: ignore[no-any-return]

    keep = signed_area(dst) * signed_area(src) > 0
    return triangles if keep.all() else triangles[keep]
