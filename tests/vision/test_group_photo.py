"""What a new user sees first: the astronaut on every face of insightface's group photo."""

from __future__ import annotations

import cv2
import numpy as np

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.swappers.classical import ClassicalSwapper
from obs_faceswap.vision.swappers.classical.masks import skin_mask
from obs_faceswap.vision.types import Face
from tests.vision.identity_harness import prepare, swap

FINE, BROAD = 0.04, 0.15  # tint scales (share of the face size): a patch, the face's broad lighting


def _skin_tint(img: np.ndarray, face: Face, share: float) -> tuple[np.ndarray, np.ndarray]:
    """LAB a/b of ``img`` over ``face``'s box, averaged over its bare skin at ``share`` of the face size;
    and that skin (bool)."""
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    ab = cv2.cvtColor(img[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_BGR2LAB)[..., 1:]
    skin = skin_mask(face.landmarks - np.float32([x0, y0]), (y1 - y0, x1 - x0))
    sigma = share * (x1 - x0)
    low = cv2.GaussianBlur(ab * skin[..., None], (0, 0), sigma)
    return low / (cv2.GaussianBlur(skin, (0, 0), sigma)[..., None] + 1e-3), skin > 0


def _patches(out: np.ndarray, before: np.ndarray, face: Face) -> tuple[float, float]:
    """(grey, tint) of the swapped face against the target's broad skin tint, 95th percentiles over the
    skin of the output's tint at patch scale: grey = how much less saturated (share of the target's
    chroma: pale grey-white patches), tint = how far in a/b (patches of another hue: grey-green
    cheeks, a red nose)."""
    fine, skin = _skin_tint(out, face, FINE)
    broad, _ = _skin_tint(before, face, BROAD)
    chroma = np.linalg.norm(broad, axis=-1)
    grey = (chroma - np.linalg.norm(fine, axis=-1)) / np.maximum(chroma, 1.0)
    tint = np.linalg.norm(fine - broad, axis=-1)
    return float(np.percentile(grey[skin], 95)), float(np.percentile(tint[skin], 95))


def test_default_colour_has_no_grey_or_tinted_patches_on_any_of_the_six_faces(
        astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> None:
    """Default settings. The target's own skin scores grey 0.31-0.46 and tint 9.8-13.8 (a flash's pale
    highlights, red cheeks): its fine tint is not carried, only its broad tint. Measured: grey at most
    0.30 (0.47 when the swap took the target's tint at 1.75 % of the face: its pale highlights under
    the astronaut's freckled texture read as grey-white patches on cheeks and nose); tint at most 8.9
    on the unmoved outline (13.1 before; 2.98 on the old scale, which compared with the target's fine
    tint, before the tint was the target's at all)."""
    det = EmbeddedDetector(provider="cpu")
    faces = det.detect(group_bgr)
    sw = ClassicalSwapper(detector=det)
    assert FaceOptions.from_settings({}).color_method == "lab"
    src = prepare(sw, astronaut_bgr)
    grey = [_patches(swap(sw, group_bgr, [f], src, {}), group_bgr, f)[0] for f in faces]
    # the tint judged on the unmoved outline (shape_strength 0), where the target's skin lies under it
    tint = [_patches(swap(sw, group_bgr, [f], src, {"shape_strength": 0}), group_bgr, f)[1] for f in faces]
    print("grey per face:", np.round(grey, 2), "tint per face:", np.round(tint, 2))
    assert len(grey) == 6 and max(grey) < 0.34
    assert max(tint) < 10.0
