"""Embedded lip sync (no download): the face's own mesh moved by ``mesh_motion``, the face warped
onto it with the classical swapper's triangle warp (``warp_source``: one remap over a Delaunay
triangulation), and the opened mouth filled with a shaded cavity and upper teeth.

Per face, a ``MouthRig`` is built once from a neutral frame (a photo) or per frame (a video): the
lower-face region of interest (ROI), the mesh points inside it plus a fixed ring on the ROI's
border (so the warp is the identity at the border and the face blends into the frame without a
seam), their triangulation, and the per-point jaw weights. ``render`` then only deforms the mesh
and warps the ROI: nothing outside it is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import NoFaceError
from obs_faceswap.lipsync.mesh_motion import (
    MOUTH_CORNERS,
    OPEN_MAX,
    FaceFrame,
    deform_mouth,
    jaw_weights,
    mouth_gap,
)
from obs_faceswap.lipsync.motion import MouthShape
from obs_faceswap.vision.embedded import INNER_LIPS, NOSE_TIP, OUTER_LIPS, EmbeddedDetector
from obs_faceswap.vision.swappers.classical.warp import ClassicalSource, warp_source
from obs_faceswap.vision.types import Face, Frame, Points

RING_PER_SIDE = 6  # fixed anchor points per ROI side
TEETH_SHARE = 0.13  # upper teeth height at most this share of the mouth width
CAVITY_DARKEN = 0.22  # the mouth cavity is the lips' colour times this


@dataclass
class MouthRig:
    """Everything per face that does not change from frame to frame of a still face."""

    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame
    source: ClassicalSource  # the ROI crop, its points (mesh subset + ring) and triangles
    mesh: Points  # the neutral 468-point mesh, frame pixels
    inside: npt.NDArray[np.intp]  # which mesh points are in ``source.points`` (first len(inside) of them)
    weights: tuple[np.ndarray, np.ndarray]  # jaw_weights of ``mesh``
    lip_colour: npt.NDArray[np.float32]  # mean BGR of the lips


def lower_face_roi(mesh: Points, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """ROI holding the mouth, jaw and chin with room for the widest opening, clipped to the frame."""
    f = FaceFrame(mesh)
    x, y = f.local(mesh)
    top = float(y[NOSE_TIP])
    keep = y >= top
    pts = mesh[keep].astype(np.float64)
    size = float((mesh.max(0) - mesh.min(0)).max())
    drop = OPEN_MAX * f.mouth_w  # the chin may move down this far
    lo = pts.min(0) - 0.08 * size
    hi = pts.max(0) + 0.08 * size
    hi = hi + np.abs(f.ey) * drop  # extend along the face's downward direction
    h, w = shape[:2]
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    return x0, y0, x1, y1


def _ring(size: tuple[int, int]) -> Points:
    h, w = size
    xs = np.linspace(0.0, w - 1.0, RING_PER_SIDE + 1)
    ys = np.linspace(0.0, h - 1.0, RING_PER_SIDE + 1)
    pts = [(x, 0.0) for x in xs] + [(x, h - 1.0) for x in xs] + \
          [(0.0, y) for y in ys[1:-1]] + [(w - 1.0, y) for y in ys[1:-1]]
    return np.array(pts, np.float32)


def build_rig(frame: Frame, face: Face) -> MouthRig:
    """The rig of one face in ``frame``; the face must carry the 468-point mesh."""
    from scipy.spatial import Delaunay

    if face.landmarks is None or len(face.landmarks) != 468:
        raise NoFaceError("lip sync needs the 468-point face mesh (use the embedded detector)")
    mesh = face.landmarks.astype(np.float32)
    x0, y0, x1, y1 = lower_face_roi(mesh, frame.shape)
    size = (y1 - y0, x1 - x0)
    local = mesh - np.float32([x0, y0])
    margin = 2.0
    inside = np.nonzero((local[:, 0] > margin) & (local[:, 1] > margin) &
                        (local[:, 0] < size[1] - 1 - margin) & (local[:, 1] < size[0] - 1 - margin))[0]
    pts = np.concatenate([local[inside], _ring(size)])
    tri = Delaunay(pts.astype(np.float64)).simplices.astype(np.int32)
    crop = _closed_mouth(np.ascontiguousarray(frame[y0:y1, x0:x1]), local)
    lips = np.zeros(size, np.uint8)
    cv2.fillPoly(lips, [np.round(local[OUTER_LIPS]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(local[INNER_LIPS]).astype(np.int32)], 0)
    sel = lips.astype(bool)
    colour = crop[sel].mean(0).astype(np.float32) if sel.any() else np.float32([60, 60, 120])
    return MouthRig((x0, y0, x1, y1), ClassicalSource(image=crop, points=pts, triangles=tri), mesh, inside,
                    jaw_weights(mesh), colour)


def _closed_mouth(crop: Frame, local: Points) -> Frame:
    """The crop with the face's own open mouth (teeth, cavity) painted over from the lips around it.

    Closing a mouth that is open in the photo squeezes its inside to a line, and opening it
    stretches it: either way its teeth and dark corners would show as specks between the lips.
    The lip sync draws its own cavity, so the source's is replaced by the surrounding lip colours.
    """
    inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(local[INNER_LIPS] * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    if not inner.any():
        return crop
    mouth_w = float(np.linalg.norm(local[MOUTH_CORNERS[1]] - local[MOUTH_CORNERS[0]]))
    r = max(1, int(round(0.03 * mouth_w)))
    inner = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    filled = cv2.inpaint(crop, inner, 3.0, cv2.INPAINT_TELEA)
    soft = cv2.GaussianBlur(inner.astype(np.float32) * np.float32(1 / 255), (0, 0), max(1.0, 0.015 * mouth_w))
    soft = np.maximum(soft, inner.astype(np.float32) * np.float32(1 / 255))[..., None]  # no seam at its edge
    out = filled.astype(np.float32) * soft + crop.astype(np.float32) * (1.0 - soft)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


def render_mouth(frame: Frame, rig: MouthRig, shape: MouthShape) -> None:
    """Draw ``rig``'s face with the mouth in ``shape`` into ``frame`` (in place, ROI only)."""
    x0, y0, x1, y1 = rig.roi
    size = (y1 - y0, x1 - x0)
    moved = deform_mouth(rig.mesh, shape.opening, shape.spread, rig.weights)
    local = moved - np.float32([x0, y0])
    dst = rig.source.points.copy()
    dst[: len(rig.inside)] = local[rig.inside]
    warped, cover = warp_source(_without_slivers(rig.source, dst), dst, size)
    roi = frame[y0:y1, x0:x1]
    _fill_holes(warped, cover, rig.source.image)
    _paint_cavity(warped, local, rig.lip_colour, FaceFrame(moved))
    roi[...] = warped


MIN_TRIANGLE_PX2 = 0.5  # moved triangles thinner than this are left out of the warp (filled as holes)


def _without_slivers(source: ClassicalSource, dst: Points) -> ClassicalSource:
    """``source`` without the triangles the mouth motion squeezed to (almost) nothing in ``dst``.

    Such a triangle still gets a line of pixels from the rasteriser, but its affine map is
    numerically wild and samples far outside the crop (dark specks from the clothes at its edge);
    left out, its pixels are filled from their neighbours like any hole. Shares the pyramid cache.
    """
    t = dst[source.triangles]
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    area = np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) * 0.5
    keep = area >= MIN_TRIANGLE_PX2
    if keep.all():
        return source
    return ClassicalSource(image=source.image, points=source.points, triangles=source.triangles[keep],
                           photo_index=source.photo_index, cache=source.cache)


def _fill_holes(warped: Frame, cover: npt.NDArray[np.float32], still: Frame) -> None:
    """Fill, in place, the pixels of ``warped`` no triangle covered (slivers the rasteriser missed,
    folded triangles) from their warped neighbours (normalised blur), or where none is near, from
    ``still`` (the rig's crop, its own open mouth painted over), never from the frame: the frame
    still shows the old mouth there. The ring makes the whole ROI covered, so every uncovered pixel
    is such a hole. Only the holes' bounding box (plus the blur's reach) is touched."""
    ys, xs = np.nonzero(cover < 1.0)
    if len(ys) == 0:
        return
    r = 7  # > 3 sigma of the blur
    y0, y1 = max(0, int(ys.min()) - r), min(cover.shape[0], int(ys.max()) + r + 1)
    x0, x1 = max(0, int(xs.min()) - r), min(cover.shape[1], int(xs.max()) + r + 1)
    win = warped[y0:y1, x0:x1]
    c = cover[y0:y1, x0:x1]
    a = c[..., None]
    num = cv2.GaussianBlur(win.astype(np.float32) * a, (0, 0), 2.0)
    den = cv2.GaussianBlur(c, (0, 0), 2.0)[..., None]
    fill = np.where(den > 0.05, num / np.maximum(den, 1e-6), still[y0:y1, x0:x1].astype(np.float32))
    win[...] = np.clip(win * a + fill * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def _paint_cavity(frame: Frame, local: Points, lip_colour: np.ndarray, f: FaceFrame) -> None:
    """Fill the open mouth (inner-lip polygon) of ``frame`` (in place) with a dark cavity and upper teeth."""
    gap = float((local[14] - local[13]) @ f.ey)
    if gap < 1.0:
        return
    # work on a window around the mouth only (the polygons' box plus the blur's reach)
    sigma = max(0.6, 0.01 * f.mouth_w)
    lo = np.floor(local[INNER_LIPS].min(0) - 3 * sigma - 3).astype(int)
    hi = np.ceil(local[INNER_LIPS].max(0) + 3 * sigma + 3).astype(int)
    x0, y0 = max(0, int(lo[0])), max(0, int(lo[1]))
    x1, y1 = min(frame.shape[1], int(hi[0])), min(frame.shape[0], int(hi[1]))
    if x1 <= x0 or y1 <= y0:
        return
    view = frame[y0:y1, x0:x1]
    img = view.astype(np.float32)
    local = local - np.float32([x0, y0])
    h, w = img.shape[:2]
    s = 4  # sub-pixel bits for the polygons
    cavity = np.zeros((h, w), np.float32)
    cv2.fillPoly(cavity, [np.round(local[INNER_LIPS] * (1 << s)).astype(np.int32)], 1.0, cv2.LINE_AA, s)
    upper = local[INNER_LIPS[:11]].astype(np.float64)  # corner 78 ... 13 ... corner 308
    teeth_h = min(TEETH_SHARE * f.mouth_w, 0.45 * gap)
    # the teeth hang from the upper lip, shorter toward the corners
    lens = np.clip(1.0 - ((upper - upper.mean(0)) @ f.ex / (f.mouth_w / 2.0)) ** 2, 0.0, 1.0)
    lower_edge = upper + np.outer(teeth_h * lens, f.ey)
    teeth_poly = np.concatenate([upper - np.outer(np.full(len(upper), 2.0), f.ey), lower_edge[::-1]])
    teeth = np.zeros((h, w), np.float32)
    cv2.fillPoly(teeth, [np.round(teeth_poly * (1 << s)).astype(np.int32)], 1.0, cv2.LINE_AA, s)
    cavity = cv2.GaussianBlur(cavity, (0, 0), sigma)
    teeth = cv2.GaussianBlur(teeth, (0, 0), sigma) * cavity
    # the cavity is darker in its depth: shade by distance from the lip line
    dark = lip_colour * np.float32(CAVITY_DARKEN)
    # warm off-white, as bright as the face's lighting allows (the lips' brightness stands for it)
    tooth = np.float32([200, 212, 222]) * np.float32(np.clip(float(lip_colour.mean()) / 140.0, 0.55, 1.1))
    # teeth in shadow toward the mouth corners
    xs = (np.arange(w, dtype=np.float32)[None, :] - np.float32(local[13][0])) / np.float32(f.mouth_w / 2.0)
    shade = np.clip(1.0 - 0.45 * xs * xs, 0.45, 1.0)[..., None]
    img *= 1.0 - cavity[..., None]
    img += cavity[..., None] * dark
    img += teeth[..., None] * (tooth * shade - dark)
    view[...] = np.clip(img + 0.5, 0, 255).astype(np.uint8)


class EmbeddedLipSync:
    """Lip sync with no model download: the face mesh's mouth and jaw moved, the face warped.

    ``detector``: an ``EmbeddedDetector`` (made on first use when omitted).
    """

    name = "embedded"

    def __init__(self, detector: EmbeddedDetector | None = None) -> None:
        self._detector = detector
        self._small: EmbeddedDetector | None = None

    @property
    def detector(self) -> EmbeddedDetector:
        if self._detector is None:
            self._detector = EmbeddedDetector(small_faces=False)
        return self._detector

    def face(self, frame: Frame, previous: Face | None = None) -> Face | None:
        """The largest face of ``frame`` (tracked from ``previous`` when given), with its mesh."""
        if previous is not None:
            tracked = self.detector.track(frame, [previous])
            if tracked:
                return tracked[0]
        faces = [f for f in self.detector.detect(frame) if f.landmarks is not None]
        if not faces and previous is None:  # a small face in a big picture: the tiled search finds it
            if self._small is None:
                self._small = EmbeddedDetector(small_faces=True)
            faces = [f for f in self._small.detect(frame) if f.landmarks is not None]
        return max(faces, key=lambda f: f.area) if faces else None

    def rig(self, frame: Frame, face: Face) -> MouthRig:
        return build_rig(frame, face)

    def render(self, frame: Frame, rig: MouthRig, shape: MouthShape) -> Frame:
        """A copy of ``frame`` with the rig's face speaking ``shape``."""
        out = frame.copy()
        render_mouth(out, rig, shape)
        return out


def gap_of(face: Face) -> float:
    """Inner-lip gap in pixels of a detected face (0 when it has no mesh)."""
    return mouth_gap(face.landmarks) if face.landmarks is not None and len(face.landmarks) == 468 else 0.0
