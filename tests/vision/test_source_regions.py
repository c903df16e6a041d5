"""Several source photos: each face region's texture from the photo that shows it best
(``swappers/classical/source_texture.py``).

The pair: scikit-image's astronaut with her eyes painted shut (skin from her cheek over each eye,
a thin lash line along the lower lid: the photo a user takes blinking), full size, so it is the
best photo overall; and the same astronaut with open eyes at 85 % size.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.vision.embedded import FACE_OVAL, LEFT_EYE, RIGHT_EYE, EmbeddedDetector
from obs_faceswap.vision.swappers.classical import ClassicalSwapper
from obs_faceswap.vision.swappers.classical.regions import hull_mask
from obs_faceswap.vision.swappers.classical.source_texture import FEATHER, REGIONS, region_mask
from obs_faceswap.vision.swappers.classical.swapper import build_source
from tests.vision.identity_harness import swap, t1_faces


@pytest.fixture(scope="module")
def detector() -> EmbeddedDetector:
    return EmbeddedDetector(provider="cpu")


def _eyes_closed(img: np.ndarray, detector: EmbeddedDetector) -> np.ndarray:
    """``img`` with the face's eyes painted shut: cheek skin over each eye, a thin lash line."""
    p = detector.detect(img)[0].landmarks
    out = img.astype(np.float32)
    for eye, cheek, (lo, c0, c1) in ((RIGHT_EYE, 118, (145, 33, 133)), (LEFT_EYE, 347, (374, 263, 362))):
        e = p[eye]
        c = e.mean(0)
        m = np.zeros(img.shape[:2], np.float32)
        cv2.fillConvexPoly(m, cv2.convexHull(np.round((e - c) * np.float32([1.3, 2.2]) + c).astype(np.int32)), 1.0)
        m = cv2.GaussianBlur(m, (0, 0), 2.0)[..., None]
        cx, cy = (int(v) for v in p[cheek])
        skin = np.median(img[cy - 4:cy + 4, cx - 4:cx + 4].reshape(-1, 3), 0)
        out = out * (1 - m) + skin * m
        mid = (p[c0] + p[c1]) / 2
        low = (p[lo] - mid)
        lash = np.stack([p[c0], mid + low * 0.5 + (p[c0] - mid) * 0.5, mid + low * 0.7, mid + low * 0.5 + (p[c1] - mid) * 0.5,
                         p[c1]])
        cv2.polylines(out, [np.round(lash).astype(np.int32)], False, (90, 100, 130), 1, cv2.LINE_AA)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


def test_a_blinking_best_photo_gets_the_open_eyes_of_another(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                                             group_bgr: np.ndarray) -> None:
    """The prepared source takes the eyes from the open-eyed photo and the rest from the best (the
    blinking one); swapped onto a t1 face, the eyes are the open photo's and the rest the best's."""
    closed = _eyes_closed(astronaut_bgr, detector)
    small = cv2.resize(astronaut_bgr, None, fx=0.85, fy=0.85, interpolation=cv2.INTER_AREA)
    sw = ClassicalSwapper(detector=detector)
    both = sw.prepare_source([("blink.png", closed), ("open.png", small)])
    assert "skin from blink.png" in both.note and "eyes from open.png" in both.note
    only_closed = sw.prepare_source([("blink.png", closed)]).value
    only_open = sw.prepare_source([("open.png", small)]).value
    # the texture: inside the face and outside the eyes' blend region exactly the best photo's crop
    src = both.value
    assert src.image.shape == only_closed.image.shape
    eyes = region_mask(only_closed.points, REGIONS["eyes"], src.image.shape[:2], 1.0, 0.0)
    reach = int(round(4 * FEATHER * float(np.ptp(only_closed.points, 0).max())))  # the feathering's reach
    eyes = cv2.dilate(eyes, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    rest = (hull_mask(only_closed.points, FACE_OVAL, eyes.shape, 0.85, 0.0) > 0.5) & (eyes == 0)
    assert rest.sum() > 2000  # inside the face (outside it: the skin's extension, from the new inside)
    assert np.array_equal(src.image[rest], only_closed.image[rest])

    face = t1_faces(detector, group_bgr)[3]
    outs = {name: swap(sw, group_bgr, [face], s, {"shape_strength": 0})
            for name, s in (("both", src), ("closed", only_closed), ("open", only_open))}
    size = group_bgr.shape[:2]
    lm = face.landmarks
    around = np.zeros(size, np.float32)
    for eye in (RIGHT_EYE, LEFT_EYE):
        np.maximum(around, hull_mask(lm, eye, size, 1.4, 0.0), out=around)
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    rest = np.zeros(size, bool)
    rest[y0:y1, x0:x1] = True
    for eye in (RIGHT_EYE, LEFT_EYE):
        rest &= hull_mask(lm, eye, size, 3.0, 0.0) == 0

    def dist(a: str, b: str, sel: np.ndarray) -> float:
        return float(np.abs(outs[a].astype(np.float32) - outs[b])[sel].mean())

    eye_sel = around > 0.5
    print(f"eyes: {dist('both', 'open', eye_sel):.2f} from the open photo's, {dist('both', 'closed', eye_sel):.2f} "
          f"from the blinking one's; rest: {dist('both', 'closed', rest):.2f} from the best's, "
          f"{dist('both', 'open', rest):.2f} from the open one's")
    assert dist("both", "open", eye_sel) < 0.5 * dist("both", "closed", eye_sel)
    assert dist("both", "closed", rest) < 0.5 * dist("both", "open", rest)


def test_one_photo_or_the_same_photo_twice_is_unchanged(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """One photo: the texture is the photo's own crop (the per-region choice does not run); the
    same photo twice: every region ties and stays the best's, byte for byte."""
    sw = ClassicalSwapper(detector=detector)
    one = sw.prepare_source([("a.png", astronaut_bgr)]).value
    own = build_source(astronaut_bgr, detector.detect(astronaut_bgr)[0])
    assert np.array_equal(one.image, own.image) and np.array_equal(one.points, own.points)
    twice = sw.prepare_source([("a.png", astronaut_bgr), ("b.png", astronaut_bgr.copy())])
    assert np.array_equal(twice.value.image, one.image) and "from b.png" not in twice.note


def test_eyes_from_a_darker_bluer_photo_are_tone_matched_without_a_seam(detector: EmbeddedDetector,
                                                                       astronaut_bgr: np.ndarray) -> None:
    """The open eyes come from a photo taken in dimmer, bluer light: in the composed texture the skin
    around them has the best photo's tone (not a patch of the other photo's), and the blend leaves
    no edge (gradient along the eye region's blend edge within 1.5x the best photo's own there)."""
    closed = _eyes_closed(astronaut_bgr, detector)
    dim = np.clip(astronaut_bgr.astype(np.float32) * np.float32([0.76, 0.64, 0.6]), 0, 255).astype(np.uint8)
    dim = cv2.resize(dim, None, fx=0.85, fy=0.85, interpolation=cv2.INTER_AREA)
    sw = ClassicalSwapper(detector=detector)
    both = sw.prepare_source([("blink.png", closed), ("dim.png", dim)])
    assert "eyes from dim.png" in both.note
    src, best = both.value, sw.prepare_source([("blink.png", closed)]).value
    size = src.image.shape[:2]
    core = region_mask(best.points, REGIONS["eyes"], size, 1.0, 0.0)
    band = (region_mask(best.points, REGIONS["eyes"], size, 1.4, 0.0) > 0.5) & (core < 0.5)
    lab = [cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32) for img in (src.image, best.image)]
    shift = np.abs(lab[0][band].mean(0) - lab[1][band].mean(0))
    print("eye surroundings: LAB shift from the best photo's", np.round(shift, 2))
    assert shift.max() < 3.0  # 14.5 in L without the tone matching (the dim photo blended in as it is)

    def gradient(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))  # type: ignore[no-any-return]

    alpha = region_mask(src.points, REGIONS["eyes"], size, 1.0, FEATHER * float(np.ptp(src.points, 0).max()))
    edge = (alpha > 0.05) & (alpha < 0.95)
    ratio = float(gradient(src.image)[edge].mean() / gradient(best.image)[edge].mean())
    print(f"eye blend edge: gradient {ratio:.2f}x the best photo's")
    assert ratio <= 1.5
