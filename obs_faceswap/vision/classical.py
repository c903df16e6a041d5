"""The embedded (classical) swapper: warp the source face onto the target's face mesh.

No neural network: the 468-point face meshes of the source photo and of the target face give
a piecewise-affine warp over the source's Delaunay triangles (computed once per source). Per
frame and face, only the face's region of interest (ROI) is touched:

  1. one affine matrix per triangle (target -> source), solved for all triangles at once;
  2. a per-pixel triangle-index map (rasterised at half resolution for large faces) turned into
     two float maps by one vectorised gather, and a single ``cv2.remap`` of the source crop;
  3. a mask from the target's face outline, shrunk so it stays inside forehead and jaw, with the
     target's open mouth cut out, feathered; with ``keep_mouth`` the target's lips stay exactly
     the target's (0 on the lips plus a guard band, from the dense mesh: no model needed); an
     ``extra_mask`` hook (the pipeline's face-parser / occlusion masks, ROI-sized) is combined by
     element-wise minimum;
  4. colour transfer to the target's skin (``obs_faceswap.vision.color.transfer_color``);
  5. feathered alpha blend into the ROI (``cv2.seamlessClone`` optionally).
Pixels outside the ROI are never written.

Steps 1-2 live in ``classical_warp``, step 3 in ``classical_masks``; their public names are
importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import NoFaceError
from obs_faceswap.vision.classical_masks import (
    BASE_SHRINK,
    BROW_LEFT,
    BROW_RIGHT,
    EYE_LIDS,
    FOREHEAD_KEEP_CUT,
    LEFT_BROW_PTS,
    RIGHT_BROW_PTS,
    eye_keep,
    eye_openness,
    face_mask,
    mask_outline,
    mouth_keep,
    skin_mask,
)
from obs_faceswap.vision.classical_warp import (
    HALF_RES_FROM,
    ClassicalSource,
    source_level,
    triangle_affines,
    triangle_index_map,
    visible_triangles,
    warp_source,
)
from obs_faceswap.vision.color import transfer_color
from obs_faceswap.vision.embedded import FACE_OVAL, OUTER_LIPS, EmbeddedDetector
from obs_faceswap.vision.feature_select import mouth_seam_keep
from obs_faceswap.vision.lowres import correct_downscaled
from obs_faceswap.vision.shape_transfer import average_shape, hold_region, mesh3, transfer_shape, unfold
from obs_faceswap.vision.surroundings import morph_surroundings, surround_margin
from obs_faceswap.vision.types import Face, Frame, Mask, Points

__all__ = [  # the public names, wherever they live (warp and masks: classical_warp, classical_masks)
    "BASE_SHRINK", "BROW_LEFT", "BROW_RIGHT", "COLOR_GAIN_LIMITS", "EYE_LIDS", "FOREHEAD_KEEP_CUT",
    "HALF_RES_FROM", "LEFT_BROW_PTS", "RIGHT_BROW_PTS", "SHADING_SIGMA", "SHARPEN_FROM", "SHARPEN_MAX",
    "SKIN_TINT_DAMP", "SOURCE_MAX_FACE", "TINT_SIGMA_SHARE", "ClassicalSource", "ClassicalSwapper", "ExtraMask",
    "LookSettings", "Roi", "build_source", "extend_skin", "eye_keep", "eye_openness", "face_mask", "face_roi",
    "mask_outline", "match_sharpness", "mouth_keep", "skin_mask", "source_level", "transfer_shading",
    "triangle_affines", "triangle_index_map", "visible_triangles", "warp_source",
]

COLOUR_FACE_PX = 112  # colour and lighting are computed on the face scaled to at most this size
SOURCE_MAX_FACE = 512  # the source crop is downscaled so its face is at most this many pixels
# lab/rct spread gain bounds per LAB channel: L near 1 (transfer_shading brings the lighting, so the
# source keeps its contrast); a/b may calm a blotchy source down but never amplify it much
COLOR_GAIN_LIMITS = ((0.8, 0.3, 0.3), (1.25, 1.6, 1.6))
SKIN_TINT_DAMP = 1.0  # share of the source's fine skin-tint variation removed by transfer_shading (all: no grey-green blotches)
TINT_SIGMA_SHARE = 0.35  # the a/b (tint) low-pass is this share of the lighting low-pass
SHADING_SIGMA = 0.05  # target lighting kept below this scale (share of the face size)
SHARPEN_FROM = 1.3  # target/swap detail ratio (Laplacian variance) from which the swap is sharpened
SHARPEN_MAX = 1.2  # strongest unsharp-mask amount

Roi = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels
# (original frame, face, ROI) -> float32 (ROI h, ROI w) mask in [0, 1] to combine by minimum, or None
ExtraMask = Callable[[Frame, Face, Roi], Mask | None]


@dataclass
class LookSettings:
    """The FACE_SETTINGS this swapper honours, in working units."""

    blend: float = 1.0  # 0..1
    color_method: str = "lab"
    color_strength: float = 1.0  # 0..1
    mask_blur: float = 0.30  # share of the face size
    mask_padding: float = 0.0  # share of the face size
    keep_mouth: bool = False
    mouth_size: float = 1.0
    shape_strength: float = 1.0  # 0..1: how much of the source's face proportions the output takes

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], base: LookSettings | None = None) -> LookSettings:
        b = base or cls()
        return cls(
            blend=float(settings.get("blend", b.blend * 100)) / 100.0,
            color_method=str(settings.get("color_method", b.color_method)),
            color_strength=float(settings.get("color_strength", b.color_strength * 100)) / 100.0,
            mask_blur=float(settings.get("mask_blur", b.mask_blur * 100)) / 100.0,
            mask_padding=float(settings.get("mask_padding", b.mask_padding * 100)) / 100.0,
            keep_mouth=bool(settings.get("keep_mouth", b.keep_mouth)),
            mouth_size=float(settings.get("mouth_size", b.mouth_size * 100)) / 100.0,
            shape_strength=float(settings.get("shape_strength", b.shape_strength * 100)) / 100.0,
        )


class ClassicalSwapper:
    """Landmark-warp face swap that needs no download (implements ``Swapper``).

    ``detector`` finds the source face (an ``EmbeddedDetector`` is made when omitted); target
    faces must carry the 468-point mesh in ``Face.landmarks`` (the embedded detector fills it).
    A target face without a mesh is left unchanged.
    """

    name = "embedded"

    def __init__(self, settings: Mapping[str, Any] | None = None, *, detector: EmbeddedDetector | None = None,
                 seamless: bool = False) -> None:
        self._detector = detector
        self.seamless = seamless
        self.look = LookSettings()
        if settings:
            self.configure(settings)

    @property
    def detector(self) -> EmbeddedDetector:
        if self._detector is None:
            self._detector = EmbeddedDetector()
        return self._detector

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Apply look settings by their FACE_SETTINGS names (blend, color_method, mask_blur, ...)."""
        self.look = LookSettings.from_settings(settings, self.look)

    update = configure  # FacePipeline calls ``update(settings)`` on live setting changes

    # -- source ------------------------------------------------------------------------------
    def prepare_source(self, images: Sequence[Frame], names: Sequence[str] | None = None) -> ClassicalSource:
        """The source face over all photos; ``NoFaceError`` when none has one.

        The skin is the best photo's (largest and most frontal; ``source.photo_index`` says which);
        with several photos the face shape is the Procrustes mean of all of them (weighted by the same
        quality), so one photo's expression or lens distortion counts less.
        """
        if not images:
            raise NoFaceError("no source photo given: choose a photo with one clearly visible face")
        found: list[tuple[float, int, Face]] = []
        for i, img in enumerate(images):
            faces = [f for f in self.detector.detect(img) if f.landmarks is not None]
            if not faces:
                continue
            face = max(faces, key=lambda f: f.area)
            found.append((min(float((face.bbox[2:] - face.bbox[:2]).max()), SOURCE_MAX_FACE) * _frontal(face), i, face))
        if found:
            best = max(found, key=lambda q: q[0])
            source = build_source(images[best[1]], best[2], photo_index=best[1])
            others = [q for q in found if q is not best]
            if others and source.shape is not None:
                source.shape = average_shape([source.shape, *(mesh3(f.landmarks, f.extra.get("mesh_z"))
                                                              for _, _, f in others)],
                                             [best[0], *(q for q, _, _ in others)])
            return source
        label = ", ".join(names) if names else ("the source photo" if len(images) == 1 else "the source photos")
        raise NoFaceError(f"no face found in {label}: use a photo where one face is clearly visible, "
                          "front-facing and not too small")

    # -- swap --------------------------------------------------------------------------------
    def swap(self, frame: Frame, faces: Sequence[Face], source: Any, *,
             extra_mask: ExtraMask | None = None) -> Frame:
        """A copy of ``frame`` with each face (having a 468-point mesh) replaced by ``source``.

        ``extra_mask(frame, face, roi)`` (e.g. ``QualityStages.roi_mask``: face-parser regions,
        occlusion) may take pixels of each face's ROI away from the swap; it sees the original frame.
        """
        out = frame.copy()
        for face in faces:
            if face.landmarks is None or len(face.landmarks) != len(source.points):
                # a face from another detector (SCRFD): add the mesh from its box and eyes
                meshed = self.detector.track_aligned(frame, [face])[0]
                if meshed is None:
                    continue
                face = meshed
            self.swap_face(out, face, source, extra_mask=extra_mask, original=frame)
        return out

    def swap_face(self, frame: Frame, face: Face, source: ClassicalSource,
                  stats: dict[str, float] | None = None, *, extra_mask: ExtraMask | None = None,
                  original: Frame | None = None) -> None:
        """Swap one face in place (ROI only). ``stats`` receives per-stage milliseconds when given.

        ``extra_mask`` is called with ``original`` (default: ``frame``), the face and its ROI.
        """
        import time

        t0 = time.perf_counter()
        pts = face.landmarks.astype(np.float32)
        # the source's proportions (faded with the blend: blend 0 is the untouched frame)
        new = target_shape(pts, face.extra.get("mesh_z"), source, self.look.shape_strength * self.look.blend)
        if self.look.keep_mouth and new is not pts:  # the user's own lips stay where they are
            new = hold_region(pts, new, OUTER_LIPS, 1.3 * self.look.mouth_size)
        roi = face_roi(np.concatenate([pts, new]), frame.shape, surround_margin(pts, new) if new is not pts else 0.0)
        if roi is None:
            return
        x0, y0, x1, y1 = roi
        size = (y1 - y0, x1 - x0)
        local = new - np.float32([x0, y0])
        warped, covered = warp_source(source, local, size)
        t1 = time.perf_counter()
        mask = face_mask(local, size, self.look) * covered
        keep = eye_keep(local, source.points, size)
        if keep is not None:  # an eye open/closed unlike the target's: show the target's own eye
            mask *= np.float32(1.0) - keep
        seam = mouth_seam_keep(local, source.points, size)
        if seam is not None:  # a wide-open source mouth on a closed one: the target's own lip seam
            mask *= np.float32(1.0) - seam
        untouched = None  # pixels the user keeps (own lips, occluders): the camera's, byte for byte
        if self.look.keep_mouth:  # the target's own lips, byte for byte
            mk = mouth_keep(local, size, self.look.mouth_size)
            np.minimum(mask, mk, out=mask)
            untouched = mk <= 0.0
        if extra_mask is not None:
            more = extra_mask(frame if original is None else original, face, roi)
            if more is not None:
                np.minimum(mask, np.asarray(more, np.float32), out=mask)
                gone = np.asarray(more) <= 0.0
                untouched = gone if untouched is None else untouched | gone
        t2 = time.perf_counter()
        target = frame[y0:y1, x0:x1]
        if new is not pts:  # the target's own skin, hair line and neck follow the moved outline
            target = morph_surroundings(target, pts - np.float32([x0, y0]), local)
        t2m = time.perf_counter()
        warped = match_sharpness(warped, target, mask)
        if self.look.color_method != "none" and self.look.color_strength > 0:
            warped = correct_downscaled(self._colour, warped, target, local, COLOUR_FACE_PX)
        t3 = time.perf_counter()
        alpha = mask * np.float32(self.look.blend)
        if self.seamless:
            blended = _seamless(warped, target, alpha)
        else:
            blended = cv2.blendLinear(warped, target, alpha, np.float32(1.0) - alpha)
        if untouched is not None and new is not pts:
            np.copyto(blended, frame[y0:y1, x0:x1], where=untouched[..., None])
        frame[y0:y1, x0:x1] = blended
        if stats is not None:
            t4 = time.perf_counter()
            stats["warp"] = stats.get("warp", 0.0) + (t1 - t0) * 1e3
            stats["mask"] = stats.get("mask", 0.0) + (t2 - t1) * 1e3
            stats["morph"] = stats.get("morph", 0.0) + (t2m - t2) * 1e3
            stats["color"] = stats.get("color", 0.0) + (t3 - t2m) * 1e3
            stats["blend"] = stats.get("blend", 0.0) + (t4 - t3) * 1e3


    def _colour(self, warped: Frame, target: Frame, pts: Points) -> Frame:
        """Colour transfer and the target's lighting on the warped face (``pts``: its mesh in these pixels)."""
        skin = skin_mask(pts, warped.shape[:2])
        out = transfer_color(warped, target, self.look.color_method, self.look.color_strength, mask=skin,
                             gain_limits=COLOR_GAIN_LIMITS)
        return transfer_shading(out, target, skin, pts, self.look.color_strength)


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


def target_shape(pts: Points, depth: Any, source: ClassicalSource, strength: float) -> Points:
    """The target's mesh ``pts`` (with its ``depth`` when known) given the source's proportions at
    ``strength``; ``pts`` itself (the same object) at 0."""
    if strength <= 0.0 or source.shape is None or len(pts) != len(source.shape):
        return pts
    return unfold(pts, transfer_shape(source.shape, mesh3(pts, depth), strength), source.triangles)


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


def match_sharpness(warped: Frame, target: Frame, region: Mask) -> Frame:
    """``warped`` sharpened (unsharp mask) toward the target face's detail level, never softened.

    A source photo that is softer than the video (small, JPEG, enlarged) otherwise shows as a
    blurry face painted on a sharp frame. Detail is measured as the variance of the Laplacian
    inside ``region``; the gain is bounded, so camera noise in the target is not matched.
    """
    sel = region > 0.5
    if int(sel.sum()) < 64:
        return warped
    def detail(img: Frame) -> float:
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return float(cv2.Laplacian(grey, cv2.CV_32F)[sel].var())
    ratio = detail(target) / max(detail(warped), 1e-3)
    if ratio < SHARPEN_FROM:
        return warped
    amount = min(SHARPEN_MAX, float(np.sqrt(ratio)) - 1.0)
    blur = cv2.GaussianBlur(warped, (0, 0), 1.0)
    return cv2.addWeighted(warped, 1.0 + amount, blur, -amount, 0.0)  # type: ignore[no-any-return]


def transfer_shading(warped: Frame, target: Frame, skin: Mask, pts: Points, strength: float = 1.0) -> Frame:
    """``warped`` relit by the target's light: its low-frequency skin colour replaced by the target's.

    Both faces' skin is low-passed in LAB at ``SHADING_SIGMA`` of the face size, normalised by the
    same skin weights (so eyes, brows and lips do not leak in), and the difference target - swap
    is added to the swap. The source keeps its features and fine detail at their own contrast;
    shadows, highlights and local skin tone follow the target, so the face sits in the frame's
    lighting instead of looking painted on (a pale highlight of the source photo takes the skin
    colour around it instead of turning grey).
    """
    h, w = warped.shape[:2]
    face_size = float((pts.max(0) - pts.min(0)).max())
    s = min(1.0, 48.0 / max(face_size, 1.0))
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    wt = cv2.resize(skin, (sw, sh), interpolation=cv2.INTER_AREA)
    sigma = max(0.8, SHADING_SIGMA * face_size * s)

    sigma_ab = max(0.7, sigma * TINT_SIGMA_SHARE)  # skin tint varies on a finer scale (nose, cheeks)
    norm_l = cv2.GaussianBlur(wt, (0, 0), sigma) + np.float32(0.02)  # no skin nearby: delta -> 0
    norm_ab = cv2.GaussianBlur(wt, (0, 0), sigma_ab) + np.float32(0.02)

    def low_lab(img: Frame) -> npt.NDArray[np.float32]:
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
        lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB) * wt[..., None]
        low = np.empty_like(lab)
        low[..., 0] = cv2.GaussianBlur(lab[..., 0], (0, 0), sigma) / norm_l
        low[..., 1:] = cv2.GaussianBlur(lab[..., 1:], (0, 0), sigma_ab) / norm_ab[..., None]
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


def _seamless(warped: Frame, target: Frame, alpha: Mask) -> Frame:
    """Poisson blending (``cv2.seamlessClone``) inside the mask; falls back to alpha blending."""
    m = (alpha > 0.05).astype(np.uint8) * 255
    ys, xs = np.nonzero(m)
    if len(xs) < 16:
        return cv2.blendLinear(warped, target, alpha, np.float32(1.0) - alpha)
    m[0, :] = m[-1, :] = 0
    m[:, 0] = m[:, -1] = 0
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    centre = (int((x0 + x1) // 2), int((y0 + y1) // 2))
    try:
        cloned = cv2.seamlessClone(warped, target, m, centre, cv2.NORMAL_CLONE)
    except cv2.error:
        return cv2.blendLinear(warped, target, alpha, np.float32(1.0) - alpha)
    return cv2.blendLinear(cloned, target, alpha, np.float32(1.0) - alpha)
