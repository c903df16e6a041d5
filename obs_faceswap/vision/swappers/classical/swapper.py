"""The embedded (classical) swapper's swap step: the source face warped onto the target's face mesh.

No neural network: the 468-point face meshes of the source photo and of the target face give
a piecewise-affine warp over the source's Delaunay triangles (computed once per source). Per
face, only the face's region of interest (ROI) is touched:

  1. the warp (``warp.py``): one affine matrix per triangle, a per-pixel triangle-index map and
     a single ``cv2.remap`` of the source crop;
  2. the masks (``masks.py``): the target's face outline shrunk inside forehead and jaw, with the
     target's open mouth and mismatched eyes cut out, feathered; with ``keep_mouth`` the
     target's lips stay exactly the target's (from the dense mesh: no model needed).

The result is a frame-space :class:`~obs_faceswap.vision.record.FaceRecord` (ROI, warped face,
masks, and a colour state asking for skin-based colour with bounded gain, the target's lighting
and detail): the merge stage (``vision/merge.py``) blends it like any other swapper's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from obs_faceswap.errors import NoFaceError
from obs_faceswap.vision.embedded import FACE_OVAL, OUTER_LIPS, EmbeddedDetector, UsesEmbeddedDetector
from obs_faceswap.vision.feature_select import mouth_seam_keep
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.record import ColourState, FaceRecord, roi_affine
from obs_faceswap.vision.shape_transfer import (
    average_shape,
    expression_reference,
    hold_region,
    mesh3,
    transfer_shape,
    unfold,
)
from obs_faceswap.vision.surroundings import morph_surroundings, surround_margin
from obs_faceswap.vision.swappers.base import Photos, PreparedSource, SourceTools
from obs_faceswap.vision.swappers.classical.masks import eye_keep, face_mask, mouth_keep, skin_mask
from obs_faceswap.vision.swappers.classical.regions import nose_relief
from obs_faceswap.vision.swappers.classical.source_texture import (
    Photo,
    choose_regions,
    compose_source,
    describe,
)
from obs_faceswap.vision.swappers.classical.warp import ClassicalSource, warp_source
from obs_faceswap.vision.types import Face, Frame, Points

SOURCE_MAX_FACE = 512  # the source crop is downscaled so its face is at most this many pixels
# lab/rct spread gain bounds per LAB channel: L near 1 (tone.transfer_shading brings the lighting, so
# the source keeps its contrast); a/b may calm a blotchy source down but never amplify it much
COLOR_GAIN_LIMITS = ((0.8, 0.3, 0.3), (1.25, 1.6, 1.6))

Roi = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


class ClassicalSwapper(UsesEmbeddedDetector):
    """Landmark-warp face swap that needs no download (implements ``Swapper``).

    ``detector`` finds the source face (an ``EmbeddedDetector`` is made when omitted); target
    faces should carry the 468-point mesh in ``Face.landmarks`` (the embedded detector fills it);
    a face from another detector gets one from its box and eyes, and is skipped when that fails.
    """

    name = "embedded"
    needs_embedder = False
    needs_photos = True

    def __init__(self, *, detector: EmbeddedDetector | None = None) -> None:
        self._detector = detector

    def sessions(self) -> list[object]:
        return []

    # -- source ------------------------------------------------------------------------------
    def prepare_source(self, photos: Photos, tools: SourceTools | None = None) -> PreparedSource:
        """The source face over all photos; ``NoFaceError`` when none has one.

        The skin is the best photo's (largest and most frontal; the note says which); with several
        photos the face shape is the Procrustes mean of all of them (weighted by the same quality),
        so one photo's expression or lens counts less. ``tools`` is not needed: the mesh comes from
        this swapper's detector.
        """
        if not photos:
            raise NoFaceError("no source photo given: choose a photo with one clearly visible face")
        found: list[tuple[float, int, Face]] = []
        for i, (_, img) in enumerate(photos):
            faces = [f for f in self.detector.detect(img) if f.landmarks is not None]
            if not faces:
                continue
            face = max(faces, key=lambda f: f.area)
            found.append((min(float((face.bbox[2:] - face.bbox[:2]).max()), SOURCE_MAX_FACE) * _frontal(face), i, face))
        names = [name for name, _ in photos]
        if found:
            best = max(found, key=lambda q: q[0])
            source = build_source(photos[best[1]][1], best[2], photo_index=best[1])
            others = [q for q in found if q is not best]
            if others and source.shape is not None:  # the shape: Procrustes mean over every photo
                source.shape = average_shape([source.shape, *(mesh3(f.landmarks, f.extra.get("mesh_z"))
                                                              for _, _, f in others)],
                                             [best[0], *(q for q, _, _ in others)])
            note = ""
            if others:  # each region's texture from the photo that shows it best
                order = [best, *others]
                sources = [source, *(build_source(photos[i][1], f, photo_index=i) for _, i, f in others)]
                taken = [Photo(s, _frontal(f)) for s, (_, _, f) in zip(sources, order, strict=True)]
                winners = choose_regions(taken, 0)
                composed = compose_source(taken, 0, winners)
                if composed is not source:  # the skin past the outline again, from the composed face
                    composed.image = extend_skin(composed.image, composed.points)
                    composed.shape = source.shape
                    source = composed
                note = (f"face shape averaged over {len(found)} of {len(photos)} source photos; "
                        + describe(winners, [names[i] for _, i, _ in order], 0))
            elif len(photos) > 1:
                note = (f"face shape averaged over {len(found)} of {len(photos)} source photos; skin from "
                        f"{names[best[1]]}, the best of them")
            return PreparedSource(source, note)
        label = ", ".join(n for n in names if n) or ("the source photo" if len(photos) == 1 else "the source photos")
        raise NoFaceError(f"no face found in {label}: use a photo where one face is clearly visible, "
                          "front-facing and not too small")

    # -- swap --------------------------------------------------------------------------------
    def swap_face(self, frame: Frame, face: Face, source: object, options: FaceOptions) -> FaceRecord | None:
        """The warped source over ``face``'s ROI with its masks; None when the face has no usable mesh."""
        assert isinstance(source, ClassicalSource)
        meshed = face
        if face.landmarks is None or len(face.landmarks) != len(source.points):
            # a face from another detector (SCRFD): add the mesh from its box and eyes
            found = self.detector.track_aligned(frame, [face])[0]
            if found is None:
                return None
            meshed = found
        pts = meshed.landmarks.astype(np.float32)
        # the source's proportions in the target's pose and expression (faded with the blend: blend 0
        # is the untouched frame); with keep_mouth the user's own lips stay where they are
        new = target_shape(pts, meshed.extra.get("mesh_z"), source, options.shape_strength * options.blend,
                           meshed.extra.get("mesh_neutral"))
        if options.keep_mouth and new is not pts:
            new = hold_region(pts, new, OUTER_LIPS, 1.3 * options.mouth_size)
        roi = face_roi(new, frame.shape)  # the swapped face: where the warp, masks and colour work
        if roi is None:
            return None
        x0, y0, x1, y1 = roi
        size = (y1 - y0, x1 - x0)
        local = new - np.float32([x0, y0])
        warped, covered = warp_source(source, local, size)
        mask = face_mask(local, size, options) * covered
        keep = eye_keep(local, source.points, size)
        if keep is not None:  # a source eye much less open than the target's: show the target's own eyes
            mask *= np.float32(1.0) - keep
        seam = mouth_seam_keep(local, source.points, size)
        if seam is not None:  # a wide-open source mouth on a closed one: the target's own lip seam
            mask *= np.float32(1.0) - seam
        masks = {"face": mask}
        if options.keep_mouth:  # the target's own lips, byte for byte
            masks["mouth"] = mouth_keep(local, size, options.mouth_size)
        face_size = float((local.max(0) - local.min(0)).max())
        colour = ColourState(mask=skin_mask(local, size), gain_limits=COLOR_GAIN_LIMITS, relight=True,
                             match_detail=True, face_size=face_size, relief=nose_relief(local))
        surroundings = None
        if new is not pts:  # the target's own skin, hair line and neck follow the moved outline
            surroundings = morph_region(frame, pts, new, roi, source.cache)
            if surroundings is None:
                return None
            sx, sy, morphed = surroundings
            crop = morphed[y0 - sy:y1 - sy, x0 - sx:x1 - sx]
        else:
            crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        return FaceRecord(face=face, crop=crop, affine=roi_affine(x0, y0), swapped=warped, masks=masks, colour=colour,
                          in_frame=True, surroundings=surroundings)


def morph_region(frame: Frame, pts: Points, new: Points, roi: Roi, cache: dict[str, Any] | None = None
                 ) -> tuple[int, int, Frame] | None:
    """The target's region around both meshes (with the morph's margin) morphed from ``pts`` to ``new``:
    (x0, y0, pixels), a region that holds ``roi``; None when it is empty. ``cache``: see
    ``morph_surroundings``."""
    region = face_roi(np.concatenate([pts, new]), frame.shape, surround_margin(pts, new))
    if region is None:
        return None
    x0, y0, x1, y1 = region
    x0, y0 = min(x0, roi[0]), min(y0, roi[1])
    x1, y1 = max(x1, roi[2]), max(y1, roi[3])
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    return x0, y0, morph_surroundings(crop, pts - np.float32([x0, y0]), new - np.float32([x0, y0]), cache)


def target_shape(pts: Points, depth: Any, source: ClassicalSource, strength: float, neutral: Any = None) -> Points:
    """The target's mesh ``pts`` (with its ``depth`` when known) given the source's proportions at
    ``strength``, folds pulled back; ``pts`` itself (the same object) at 0. ``neutral``: a tracked
    face's running neutral mesh (``Face.extra["mesh_neutral"]``): the target's expression change from
    it is kept (brow raise, cheeks)."""
    if strength <= 0.0 or source.shape is None or len(pts) != len(source.shape):
        return pts
    target = mesh3(pts, depth)
    reference = None
    if neutral is not None and depth is not None and len(neutral) == len(pts):
        reference = expression_reference(target, np.asarray(neutral, np.float64))
    return unfold(pts, transfer_shape(source.shape, target, strength, reference), source.triangles)


def _frontal(face: Face) -> float:
    """1 for a frontal face, toward 0.1 as it turns: the nose tip's sideways offset from the eyes' midpoint."""
    le, re, nose = face.kps[0], face.kps[1], face.kps[2]
    axis = re - le
    eyes = max(float(np.linalg.norm(axis)), 1e-3)
    side = abs(float(np.dot(nose - (le + re) / 2, axis / eyes)))
    return max(0.1, 1.0 - 2.0 * side / eyes)


def build_source(image: Frame, face: Face, photo_index: int = 0) -> ClassicalSource:
    """Crop the source face (with margin, downscaled if huge) and triangulate its mesh once."""
    from scipy.spatial import Delaunay

    pts = face.landmarks.astype(np.float32)
    lo, hi = pts.min(0), pts.max(0)
    size = float((hi - lo).max())
    margin = 0.1 * size
    x0, y0 = (int(max(0, np.floor(v - margin))) for v in lo)
    x1 = int(min(image.shape[1], np.ceil(hi[0] + margin)))
    y1 = int(min(image.shape[0], np.ceil(hi[1] + margin)))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    local = pts - np.float32([x0, y0])
    scale = min(1.0, SOURCE_MAX_FACE / max(size, 1.0))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
        local = local * np.float32(scale)
    tri = Delaunay(local.astype(np.float64)).simplices.astype(np.int32)
    depth = face.extra.get("mesh_z")
    shape = mesh3(local, None if depth is None else np.asarray(depth, np.float32) * np.float32(scale))
    return ClassicalSource(image=extend_skin(crop, local), points=local, triangles=tri, photo_index=photo_index,
                           shape=shape)


def extend_skin(crop: Frame, pts: Points) -> Frame:
    """The source crop with everything outside its face outline replaced by the nearby skin colour.

    On a turned target head the mesh's far-side outline lies beyond the visible cheek, and the
    warp samples the source right at (and past) its own outline: hair, ears and background would
    show there as dark dots and grey patches. Filled with a smooth extension of the skin
    (normalised blur of the inside at two scales), those samples blend in.
    """
    h, w = crop.shape[:2]
    size = float((pts.max(0) - pts.min(0)).max())
    oval = pts[FACE_OVAL]
    c = oval.mean(0)
    inside = np.zeros((h, w), np.float32)
    cv2.fillPoly(inside, [np.round(((oval - c) * np.float32(0.94) + c) * 16).astype(np.int32)], 1.0,
                 cv2.LINE_AA, 4)
    img = crop.astype(np.float32)
    fill = np.zeros_like(img)
    weight = np.zeros((h, w), np.float32)
    for share in (0.2, 0.05):  # coarse first, then finer where the inside is near enough
        sigma = max(1.0, share * size)
        num = cv2.GaussianBlur(img * inside[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(inside, (0, 0), sigma)
        ok = den > 0.02
        fill[ok] = num[ok] / den[ok, None]
        weight[ok] = 1.0
    soft = cv2.GaussianBlur(inside, (0, 0), max(1.0, 0.01 * size))[..., None]
    out = img * soft + fill * (np.float32(1.0) - soft)
    out = np.where(weight[..., None] > 0, out, img)
    return np.clip(out + np.float32(0.5), 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


def face_roi(pts: Points, shape: tuple[int, ...], margin: float = 0.0) -> tuple[int, int, int, int] | None:
    """Integer ROI (x0, y0, x1, y1) holding the mesh (plus ``margin`` pixels), clipped to the frame; None when empty."""
    h, w = shape[:2]
    lo, hi = pts.min(0) - np.float32(margin), pts.max(0) + np.float32(margin)
    x0, y0 = max(0, int(np.floor(lo[0])) - 2), max(0, int(np.floor(lo[1])) - 2)
    x1, y1 = min(w, int(np.ceil(hi[0])) + 3), min(h, int(np.ceil(hi[1])) + 3)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return x0, y0, x1, y1
