"""Face masks in crop space: box, face-parser regions, occlusion, keep-original-mouth.

Every mask is float32 (H, W) in [0, 1]: 1 = show the swapped face, 0 = keep the original.
Masks are combined with :func:`combine` (element-wise minimum), so each one can only take
pixels away from the swap.

- :func:`box_mask`: the crop's square with padding per side and a soft edge.
- :class:`FaceParser` (BiSeNet, CelebAMask-HQ classes): keep only the chosen regions
  (``skin,brows,eyes,nose,mouth,lips,...``, see :data:`REGIONS`).
- :class:`Occluder` (XSeg): 0 where something covers the face (hands, microphones).
- :func:`mouth_mask`: 0 on the target's mouth (from parser labels, dense landmarks, or the two
  mouth corners), so the person's own mouth shows through the swapped face.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.models.session import Session
from obs_faceswap.vision.types import Frame, Mask

Labels = npt.NDArray[np.uint8]  # (H, W) BiSeNet class per pixel

# BiSeNet (CelebAMask-HQ) classes: 0 background, 1 skin, 2/3 brows, 4/5 eyes, 6 glasses, 7/8 ears,
# 9 earring, 10 nose, 11 mouth (inside), 12 upper lip, 13 lower lip, 14 neck, 15 necklace, 16 cloth,
# 17 hair, 18 hat
REGIONS: dict[str, tuple[int, ...]] = {
    "skin": (1,),
    "brows": (2, 3),
    "eyes": (4, 5),
    "glasses": (6,),
    "ears": (7, 8),
    "earrings": (9,),
    "nose": (10,),
    "mouth": (11,),
    "lips": (12, 13),
    "upper_lip": (12,),
    "lower_lip": (13,),
    "neck": (14,),
    "necklace": (15,),
    "cloth": (16,),
    "hair": (17,),
    "hat": (18,),
}
_ALIASES = {"brow": "brows", "eye": "eyes", "ear": "ears", "earring": "earrings", "lip": "lips",
            "upper-lip": "upper_lip", "lower-lip": "lower_lip", "clothes": "cloth"}
MOUTH_CLASSES: tuple[int, ...] = (11, 12, 13)
# mediapipe face mesh (468/478 points): outer lip contour
MESH_LIPS_OUTER: tuple[int, ...] = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0,
                                    37, 39, 40, 185)

PARSER_SIZE = 512
OCCLUDER_SIZE = 256
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


# ---------------------------------------------------------------- combining and the box


def combine(masks: Iterable[Mask | None]) -> Mask | None:
    """Element-wise minimum of the masks that are not None (None when there are none)."""
    out: Mask | None = None
    for m in masks:
        if m is None:
            continue
        out = m.astype(np.float32, copy=True) if out is None else np.minimum(out, m, out=out)
    return out


@lru_cache(maxsize=32)
def box_mask(size: int, padding: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
             blur: float = 0.3) -> Mask:
    """Soft (size x size) box: 1 inside, fading to ~0 at the crop border (the one box mask).

    ``padding`` (top, right, bottom, left), each a share of the size (0..0.5), moves that side
    inwards; ``blur`` (0..1, share of the size) sets the width of the fade. Read-only (cached).
    """
    fade = max(1, int(round(size * 0.5 * blur)))
    margin = max(1, int(round(0.75 * fade)))  # the edge is ~0 after the blur
    top, right, bottom, left = (margin + int(round(size * float(p))) for p in padding)
    m = np.zeros((size, size), dtype=np.float32)
    if top < size - bottom and left < size - right:
        m[top:size - bottom, left:size - right] = 1.0
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), max(0.5, fade * 0.25))
    m.setflags(write=False)
    return m


def _feather_inside(region: npt.NDArray[np.uint8], size: int) -> Mask:
    """Soften a binary keep-region's edge inwards: exactly 0 outside it, 1 from ~3 px (at 256) inside."""
    sigma = max(0.75, size / 256.0 * 1.25)
    m = cv2.GaussianBlur(region.astype(np.float32), (0, 0), sigma)
    m = np.clip((m - np.float32(0.5)) * np.float32(2.0), 0.0, 1.0)
    m *= region  # thin gaps inside the region (an open mouth between chosen lips) stay 0
    return m


# ---------------------------------------------------------------- face parser (BiSeNet)


def parse_regions(text: str | Sequence[str]) -> tuple[int, ...]:
    """'skin,nose,lips' (or a list of names) -> sorted BiSeNet class ids; empty -> ().

    Unknown names raise ``FaceSwapError`` listing the valid ones.
    """
    names = [t for t in (text.replace(";", ",").split(",") if isinstance(text, str) else text)]
    classes: set[int] = set()
    for raw in names:
        name = raw.strip().lower().replace(" ", "_")
        if not name:
            continue
        name = _ALIASES.get(name, name)
        if name == "face":  # everything that is the face itself
            classes.update((1, 2, 3, 4, 5, 6, 10, 11, 12, 13))
            continue
        if name not in REGIONS:
            raise FaceSwapError(f"unknown face region {raw.strip()!r} in 'mask_regions'; use any of "
                                f"{', '.join(REGIONS)} (comma-separated), or 'face'")
        classes.update(REGIONS[name])
    return tuple(sorted(classes))


class FaceParser:
    """BiSeNet face parser: ``input`` f32[1,3,512,512] RGB ImageNet mean/std -> 19 class logits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.output_name = session.output_names[0]

    def labels(self, crop: Frame) -> Labels:
        """Class id per pixel of ``crop`` (any square size; it is resized to 512 for the model)."""
        h, w = crop.shape[:2]
        img = cv2.resize(crop, (PARSER_SIZE, PARSER_SIZE), interpolation=cv2.INTER_LINEAR) \
            if (h, w) != (PARSER_SIZE, PARSER_SIZE) else crop
        x = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)
        x = (x - _IMAGENET_MEAN) / _IMAGENET_STD
        logits = self.session.run({"input": np.ascontiguousarray(x.transpose(2, 0, 1)[None])},
                                  [self.output_name])[0]
        lab = np.asarray(logits)[0].argmax(axis=0).astype(np.uint8)
        if (h, w) != (PARSER_SIZE, PARSER_SIZE):
            lab = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
        return lab

    @staticmethod
    def region_mask(labels: Labels, classes: Sequence[int]) -> Mask:
        """1 on the chosen classes (edges softened inwards), 0 elsewhere."""
        lut = np.zeros(256, np.uint8)
        lut[list(classes)] = 1
        return _feather_inside(cv2.LUT(labels, lut), labels.shape[0])


# ---------------------------------------------------------------- occlusion (XSeg)


class Occluder:
    """XSeg occlusion model: ``input`` NHWC f32[1,256,256,3] BGR x/255 -> f32[1,256,256,1], 1 = face."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.input_name = session.input_names[0]
        self.output_name = session.output_names[0]

    def mask(self, crop: Frame) -> Mask:
        """1 where the face is visible, 0 where something in front of it covers it."""
        h, w = crop.shape[:2]
        img = cv2.resize(crop, (OCCLUDER_SIZE, OCCLUDER_SIZE), interpolation=cv2.INTER_AREA) \
            if (h, w) != (OCCLUDER_SIZE, OCCLUDER_SIZE) else crop
        x = img.astype(np.float32)[None] * np.float32(1.0 / 255.0)
        y = self.session.run({self.input_name: x}, [self.output_name])[0]
        m = np.clip(np.asarray(y, dtype=np.float32).reshape(OCCLUDER_SIZE, OCCLUDER_SIZE), 0.0, 1.0)
        if (h, w) != (OCCLUDER_SIZE, OCCLUDER_SIZE):
            m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        return _feather_inside((m > 0.5).astype(np.uint8), h) * m


# ---------------------------------------------------------------- keep the original mouth


def mouth_region(size: int, *, labels: Labels | None = None, landmarks: npt.ArrayLike | None = None,
                 kps: npt.ArrayLike | None = None, scale: float = 1.0) -> npt.NDArray[np.uint8]:
    """Binary (0/1) mouth region in a ``size`` crop, from the best source given.

    In order of preference: parser ``labels`` (mouth + lips), dense mesh ``landmarks`` (outer lip
    contour, crop coordinates), the 5 ``kps`` (mouth corners, crop coordinates); a source that
    finds no mouth falls back to the next one. ``scale``
    (mouth_size / 100) grows or shrinks the region about its centre.
    """
    region = np.zeros((size, size), np.uint8)
    if labels is not None:
        lut = np.zeros(256, np.uint8)
        lut[list(MOUTH_CLASSES)] = 1
        region = cv2.LUT(labels, lut)
        if scale != 1.0 and region.any():
            ys, xs = np.nonzero(region)
            cx, cy = float(xs.mean()), float(ys.mean())
            mat = cv2.getRotationMatrix2D((cx, cy), 0.0, float(scale))
            region = cv2.warpAffine(region, mat, (size, size), flags=cv2.INTER_NEAREST)
        if region.any():
            return region
        region = np.zeros((size, size), np.uint8)  # the parser saw no mouth: fall back to the points
    if landmarks is not None:
        pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, np.asarray(landmarks).shape[-1])[:, :2]
        if len(pts) >= 468:
            lips = pts[list(MESH_LIPS_OUTER)]
            c = lips.mean(axis=0)
            lips = c + (lips - c) * scale
            cv2.fillConvexPoly(region, np.round(cv2.convexHull(lips.astype(np.float32))).astype(np.int32), 1)
            return region
    if kps is not None:
        k = np.asarray(kps, dtype=np.float64).reshape(5, 2)
        left, right = k[3], k[4]
        width = float(np.linalg.norm(right - left))
        if width > 0:
            c = (left + right) / 2.0
            ang = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
            # lips reach a little past the corners; a closed-to-half-open mouth is ~0.7 as tall as wide
            down = np.array([-np.sin(np.radians(ang)), np.cos(np.radians(ang))]) * width * 0.05
            axes = (max(1, int(round(0.65 * width * scale))), max(1, int(round(0.35 * width * scale))))
            cv2.ellipse(region, (int(round(c[0] + down[0])), int(round(c[1] + down[1]))), axes, ang, 0, 360, 1, -1)
    return region


def mouth_mask(region: npt.NDArray[np.uint8], feather: float = 0.12) -> Mask:
    """Mask that is exactly 0 on ``region`` (plus a 2 px guard band) and ramps to 1 around it.

    The guard band keeps the original mouth byte-identical after the crop is warped back into
    the frame (bilinear resampling never mixes a non-zero weight into a mouth pixel). The ramp
    is ``feather`` x the region's width wide.
    """
    if not region.any():
        return np.ones(region.shape, np.float32)
    xs = np.nonzero(region.any(axis=0))[0]
    ramp = max(2.0, feather * float(xs[-1] - xs[0] + 1))
    dist = cv2.distanceTransform((region == 0).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip((dist - 2.0) / np.float32(ramp), 0.0, 1.0)
    m = t * t * (3.0 - 2.0 * t)  # smoothstep: no visible seam
    return m.astype(np.float32)
