"""No bright or dark ring around the nose when t1's faces are swapped onto each other.

The source's nose keeps the shading of its own 3-D relief (the shadows beside the wings, the lit
nose ridge) unless the relighting follows the target's light at the nose's own scale: lit from
another side, it reads as a ring around the nose. Measured on the output against the target's own
pixels under the swapped mesh (``record.crop``), lightness low-passed at 1 % of the face, in a band
around the nose, against the rest of the bare skin.
"""

from __future__ import annotations

import cv2
import numpy as np

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.merge import merge_face
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.swappers.classical import ClassicalSwapper
from obs_faceswap.vision.swappers.classical.masks import skin_mask
from obs_faceswap.vision.swappers.classical.regions import NOSE, hull_mask
from obs_faceswap.vision.swappers.classical.swapper import target_shape
from tests.vision.identity_harness import face_crop, prepare, t1_faces

PROFILE = 4  # t1's face in profile: its nose band is hidden under the mask's edge


def _lightness(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32) * np.float32(100 / 255)


def _ring(out: np.ndarray, record, mesh: np.ndarray) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(band, rest): mean |output - target| lightness (0..100, the skin's median difference taken out)
    in the band around the nose (its hull grown 1.5x, less the hull) and on the skin beyond 2x."""
    h, w = record.crop.shape[:2]
    x0, y0 = int(-record.affine[0, 2]), int(-record.affine[1, 2])
    size = float(np.ptp(mesh, 0).max())
    d = cv2.GaussianBlur(_lightness(out[y0:y0 + h, x0:x0 + w]) - _lightness(record.crop), (0, 0), 0.01 * size)
    skin = (skin_mask(mesh, (h, w)) > 0) & (record.masks["face"] > 0.9)
    nose = hull_mask(mesh, NOSE, (h, w), 1.0, 0.0) > 0.5
    band = (hull_mask(mesh, NOSE, (h, w), 1.5, 0.0) > 0.5) & ~nose & skin
    rest = skin & ~(hull_mask(mesh, NOSE, (h, w), 2.0, 0.0) > 0.5)
    off = float(np.median(d[skin]))
    return float(np.abs(d[band] - off).mean()), float(np.abs(d[rest] - off).mean())


def test_no_ring_around_the_nose_on_t1_faces_swapped_onto_each_other(group_bgr: np.ndarray) -> None:
    """Default settings, t1's faces onto each other (25 pairs; not onto the profile face). Measured: the
    band around the nose differs from the target by 3.57 grey levels on average, 2.04x the rest of
    the skin (6.1x at worst) when the nose was relit at the face's broad scale only; 2.33 and 1.47x
    (5.0x) with the nose and the skin beside its wings relit down to 2 % of the face
    (``tone.RELIEF_SIGMA`` over ``regions.nose_relief``). Finer or wider relief removes more of the
    ring (1.2 % over the hull grown 1.8x: 1.55 and 1.07x) but takes the nose's shape cues too: the
    identity proxy's inner features fell from 18/36 to 15/36 pairs and test_classical's "another
    person's face" change below its 12 grey levels."""
    det = EmbeddedDetector(provider="cpu")
    faces = t1_faces(det, group_bgr)
    sw = ClassicalSwapper(detector=det)
    options = FaceOptions.from_settings({})
    sources = [prepare(sw, face_crop(group_bgr, f)) for f in faces]
    bands, ratios = [], []
    for i, src in enumerate(sources):
        for j, face in enumerate(faces):
            if i == j or j == PROFILE:
                continue
            record = sw.swap_face(group_bgr, face, src, options)
            assert record is not None
            out = group_bgr.copy()
            merge_face(out, record, options)
            mesh = target_shape(face.landmarks, face.extra.get("mesh_z"), src, 1.0) - np.float32(
                [-record.affine[0, 2], -record.affine[1, 2]])
            band, rest = _ring(out, record, mesh)
            bands.append(band)
            ratios.append(band / rest)
    print(f"nose band: {np.mean(bands):.2f} grey levels, {np.mean(ratios):.2f}x the rest of the skin "
          f"(worst {np.max(ratios):.2f}x)")
    assert len(bands) == 25
    assert np.mean(bands) < 2.8 and np.mean(ratios) < 1.65
