"""Several source photos of one person: each face region's texture from the photo that shows it best.

The best photo overall (largest, most frontal: ``ClassicalSwapper.prepare_source``) gives the
layout (its crop and mesh). Every other photo is warped into that layout by the mesh (one
piecewise-affine warp each) and each region (eyes, brows, nose, mouth, the rest of the skin) is
scored per photo in it:

* visibility: how frontal the photo's face is and how much of the region its warp covers;
* sharpness: the photo's focus over the whole face (the Laplacian's spread over the squared mean
  grey level; same layout, so comparable across photos; a dim photo is not a blurred one). Per
  region it would mostly measure the content (a closed lid's lash line is sharper than an eye);
* exposure: the share of the region that is neither clipped white nor crushed black;
* eyes: lid opening (mesh) times the share of the lid opening that is not skin-coloured (an open
  eye shows white, iris and pupil, a closed one skin); mouth: closed counts more (the lips without
  teeth between them).

The region goes to the photo with the highest score (the best photo wins ties). A winner's eyes
and lips keep their own shape: those mesh points (lids, lips) are taken from the winner, aligned
by a similarity, so an open eye is not squeezed into a closed lid. Each winner's texture is
tone-matched to its surroundings in the base (one gain per channel that gives the bare skin around
the region the base's mean colour: no step between regions, and no patchwork of photos lit
differently) and blended in with a feathered region mask. All of it runs once per source; the
per-frame swap sees one crop, one mesh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.embedded import LEFT_EYE, RIGHT_EYE
from obs_faceswap.vision.shape_transfer import (
    LEFT_EYE_REGION,
    LIPS_REGION,
    RIGHT_EYE_REGION,
    mesh3,
    mouth_opening,
    rigid_weights,
    similarity_fit,
)
from obs_faceswap.vision.swappers.classical.masks import eye_openness
from obs_faceswap.vision.swappers.classical.regions import LEFT_BROW, NOSE, RIGHT_BROW, hull_mask
from obs_faceswap.vision.swappers.classical.warp import ClassicalSource, warp_source
from obs_faceswap.vision.types import Frame, Mask, Points

EYE_OPEN = 0.3  # lid gap / eye width from which an eye counts as fully open
MOUTH_OPEN = 0.3  # inner-lip gap / mouth width at which a mouth counts as fully open
INCUMBENT = 1.15  # the best photo keeps a region unless another scores this much more
FEATHER = 0.03  # region mask feathering, share of the face size
TONE_REACH = 2.0  # the tone is measured on the bare skin within the region's hull grown this much
GAIN_LIMITS = (np.float32(0.4), np.float32(2.5))  # bounds of that tone matching's per-channel gain


@dataclass(frozen=True)
class Region:
    """A face region: the mesh points whose hull it is (one hull per part), how much the hull grows
    for the blend, and the mesh points that move with a winner (its own lid or lip shape)."""

    parts: tuple[npt.NDArray[np.int64], ...]
    grow: float
    moved: npt.NDArray[np.int64]


REGIONS: dict[str, Region] = {
    "nose": Region((NOSE,), 1.05, np.array([], np.int64)),
    "brows": Region((RIGHT_BROW, LEFT_BROW), 1.35, np.array([], np.int64)),
    "eyes": Region((RIGHT_EYE_REGION, LEFT_EYE_REGION), 1.05,
                   np.concatenate([RIGHT_EYE_REGION[:16], LEFT_EYE_REGION[:16]])),
    "mouth": Region((LIPS_REGION,), 1.2, LIPS_REGION),
}
SKIN = "skin"  # everything else: the base the regions are blended into


@dataclass
class Photo:
    """One source photo's prepared face: its crop and mesh, and how frontal it is (0.1..1)."""

    source: ClassicalSource
    frontal: float


def region_mask(pts: Points, region: Region, size: tuple[int, int], grow: float, soft: float) -> Mask:
    """The union of the region's part hulls, grown ``grow`` x the region's own growth, feathered."""
    out = np.zeros(size, np.float32)
    for part in region.parts:
        np.maximum(out, hull_mask(pts, part, size, region.grow * grow, soft), out=out)
    return out


def _grey(img: Frame) -> npt.NDArray[np.float32]:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)  # type: ignore[no-any-return]


def _sharpness(img: Frame, sel: npt.NDArray[np.bool_]) -> float:
    """Focus: the Laplacian's variance over the squared mean grey level in ``sel`` (a dimmer photo
    has less of both, a blurred one less Laplacian only)."""
    if not sel.any():
        return 0.0
    g = _grey(img)
    return float(cv2.Laplacian(g, cv2.CV_32F)[sel].var() / (float(g[sel].mean()) ** 2 + 1e-6))


def _exposure(img: Frame, sel: npt.NDArray[np.bool_]) -> float:
    g = _grey(img)[sel]
    if g.size == 0:
        return 0.0
    clipped = float(((g < 0.06) | (g > 0.97)).mean())
    return max(0.1, 1.0 - 2.0 * clipped)


def _lab(img: Frame) -> npt.NDArray[np.float32]:
    return cv2.cvtColor(img.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2LAB)  # type: ignore[no-any-return]


def eye_visible(img: Frame, pts: Points, skin: npt.NDArray[np.float32]) -> float:
    """Share of the eyes' lid openings (mesh, shrunk) whose colour is not the photo's skin (``skin``:
    its median LAB): high for an open eye (white, iris, pupil), low for a closed lid. The mesh's lid
    gap alone is no proof: the mesh model expects eyes and draws them half open over closed lids."""
    size = img.shape[:2]
    inside = np.zeros(size, bool)
    for eye in (RIGHT_EYE, LEFT_EYE):
        inside |= hull_mask(pts, eye, size, 0.8, 0.0) > 0.5
    if not inside.any():
        return 0.0
    lab = _lab(img)[inside]
    like = (np.abs(lab[:, 1:] - skin[1:]).max(1) < 8.0) & (np.abs(lab[:, 0] - skin[0]) < 0.25 * skin[0])
    return 1.0 - float(like.mean())


def _feature(name: str, img: Frame, pts: Points, skin: npt.NDArray[np.float32]) -> float:
    """The region's own criterion: open eyes (mesh lid gap and what the opening shows), a closed
    mouth; 1 for the others."""
    if name == "eyes":
        return min(1.0, float(np.mean(eye_openness(pts))) / EYE_OPEN) * eye_visible(img, pts, skin)
    if name == "mouth":
        return 1.0 - 0.9 * min(1.0, mouth_opening(pts) / MOUTH_OPEN)
    return 1.0


def _aligned_points(photo: ClassicalSource, base: Points) -> Points:
    """``photo``'s mesh brought onto ``base`` by a 2-D similarity fitted on the rigid points."""
    src, dst = photo.points.astype(np.float64), base.astype(np.float64)
    s, r, t = similarity_fit(src, dst, rigid_weights(mesh3(base, None)))
    return ((src @ r.T) * s + t).astype(np.float32)  # type: ignore[no-any-return]


def _with_moved(base: Points, aligned: Points, names: Sequence[str]) -> Points:
    out = base.copy()
    for name in names:
        moved = REGIONS[name].moved
        out[moved] = aligned[moved]
    return out


def region_scores(photos: Sequence[Photo], best: int) -> dict[str, list[float]]:
    """Each region's (``REGIONS`` and ``SKIN``) score per photo, the best photo's with its ``INCUMBENT`` bonus."""
    base = photos[best].source
    size = base.image.shape[:2]
    names = [*REGIONS, SKIN]
    raw: dict[str, list[float]] = {n: [] for n in names}
    focus: list[float] = []
    all_regions = np.zeros(size, np.float32)
    for region in REGIONS.values():
        np.maximum(all_regions, region_mask(base.points, region, size, 1.0, 0.0), out=all_regions)
    for k, photo in enumerate(photos):
        if k == best:
            pts, img, cov = base.points, base.image, np.ones(size, np.float32)
        else:
            pts = _with_moved(base.points, _aligned_points(photo.source, base.points), list(REGIONS))
            img, cov = warp_source(photo.source, pts, size)
        inside = (hull_mask(pts, np.arange(len(pts)), size, 0.9, 0.0) > 0.5)
        focus.append(_sharpness(img, inside & (cov > 0.99)))
        bare = inside & (all_regions < 0.5)
        skin = np.median(_lab(img)[bare & (cov > 0.99)], 0) if (bare & (cov > 0.99)).any() else np.zeros(3)
        for name in names:
            sel = bare if name == SKIN else region_mask(pts, REGIONS[name], size, 1.0, 0.0) > 0.5
            covered = float(cov[sel].mean()) if sel.any() else 0.0
            sel = sel & (cov > 0.99)
            raw[name].append(photo.frontal * covered * _exposure(img, sel) * _feature(name, img, pts, skin))
    top = max(max(focus), 1e-9)
    sharp = [float(np.sqrt(f / top)) for f in focus]
    out: dict[str, list[float]] = {}
    for name in names:
        out[name] = [q * f for q, f in zip(raw[name], sharp, strict=True)]
        out[name][best] *= INCUMBENT
    return out


def choose_regions(photos: Sequence[Photo], best: int) -> dict[str, int]:
    """The photo index whose texture each region (``REGIONS`` and ``SKIN``) takes: the highest score."""
    return {name: int(np.argmax(scores)) for name, scores in region_scores(photos, best).items()}


def _tone_matched(img: Frame, base: Frame, band: Mask) -> npt.NDArray[np.float32]:
    """``img`` (float) times the per-channel gain that gives it the base's mean colour over ``band``
    (the bare skin around the region: no brows or eyes that the two meshes may place a little
    differently): its tone becomes the base's there. One gain per region and channel,
    not a field: light is even across one feature, and a field follows every small misalignment of
    hair or brows between the photos. A gain, not an offset: light and white balance scale the
    colours, so the whites of an eye from a darker or bluer photo come out as white as the base's
    skin says they should."""
    total = float(band.sum())
    if total < 1.0:
        return img.astype(np.float32)  # type: ignore[no-any-return]
    a = (base.astype(np.float32) * band[..., None]).reshape(-1, 3).sum(0) / total
    b = (img.astype(np.float32) * band[..., None]).reshape(-1, 3).sum(0) / total
    gain = np.clip(a / np.maximum(b, np.float32(1.0)), GAIN_LIMITS[0], GAIN_LIMITS[1]).astype(np.float32)
    return img.astype(np.float32) * gain  # type: ignore[no-any-return]


def compose_source(photos: Sequence[Photo], best: int, winners: dict[str, int]) -> ClassicalSource:
    """The best photo's source with each region's texture (and lid/lip shape) from its winner."""
    from scipy.spatial import Delaunay

    base = photos[best].source
    if all(k == best for k in winners.values()):
        return base
    size = base.image.shape[:2]
    face = float(np.ptp(base.points, 0).max())
    aligned = {k: _aligned_points(photos[k].source, base.points) for k in set(winners.values()) if k != best}
    pts = base.points.copy()
    for name, region in REGIONS.items():
        if winners[name] != best:
            pts[region.moved] = aligned[winners[name]][region.moved]

    def warped(k: int) -> tuple[Frame, Mask]:
        if k == best:
            return base.image, np.ones(size, np.float32)
        return warp_source(photos[k].source, pts, size)

    canvas, cov = warped(winners[SKIN])
    if winners[SKIN] != best:  # the best photo's crop where the skin winner's warp does not reach
        c = cov[..., None]
        canvas = np.clip(canvas * c + base.image * (np.float32(1.0) - c) + np.float32(0.5), 0, 255).astype(np.uint8)
    out = canvas.astype(np.float32)
    soft = FEATHER * face
    features = np.zeros(size, np.float32)
    for region in REGIONS.values():
        np.maximum(features, region_mask(pts, region, size, 1.1, 0.0), out=features)
    bare = ((hull_mask(pts, np.arange(len(pts)), size, 0.9, 0.0) > 0.5) & (features < 0.5)).astype(np.float32)
    for name, region in REGIONS.items():
        k = winners[name]
        if k == winners[SKIN]:  # already the canvas's (warped onto the same mesh)
            continue
        img, cov = warped(k)
        alpha = region_mask(pts, region, size, 1.0, soft) * cov
        band = bare * region_mask(pts, region, size, TONE_REACH, 0.0) * (cov > 0.99)
        matched = _tone_matched(img, canvas, band)
        out = out * (1.0 - alpha[..., None]) + matched * alpha[..., None]
    image = np.clip(out + np.float32(0.5), 0, 255).astype(np.uint8)
    tri = Delaunay(pts.astype(np.float64)).simplices.astype(np.int32)
    return ClassicalSource(image=image, points=pts, triangles=tri, photo_index=base.photo_index, shape=base.shape)


def describe(winners: dict[str, int], names: Sequence[str], best: int) -> str:
    """The note: where the skin comes from and, after it, every other region that is not from there,
    e.g. 'skin from a.jpg, the best of them; eyes from b.jpg'."""
    def name(k: int) -> str:
        return names[k] or f"photo {k + 1}"

    skin = winners[SKIN]
    head = f"skin from {name(skin)}" + (", the best of them" if skin == best else
                                        f" (on the layout of {name(best)}, the best of them)")
    others = [f"{region} from {name(k)}" for region, k in winners.items() if region != SKIN and k != skin]
    return "; ".join([head, *others])
