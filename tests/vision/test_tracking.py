"""TrackedDetector: detect every N frames, mesh tracking in between, One-Euro smoothing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.tracking import OneEuro, TrackedDetector
from obs_faceswap.vision.types import Face, Frame


@pytest.fixture(scope="module")
def detector() -> EmbeddedDetector:
    return EmbeddedDetector(provider="cpu")


class Counting:
    """A real detector that counts its full detections (and optionally hides its mesh, like SCRFD)."""

    def __init__(self, inner: EmbeddedDetector, *, bare: bool = False) -> None:
        self.inner, self.bare, self.calls = inner, bare, 0

    def detect(self, frame: Frame) -> list[Face]:
        self.calls += 1
        faces = self.inner.detect(frame)
        if self.bare:
            return [Face(bbox=f.bbox, score=f.score, kps=f.kps) for f in faces]
        return faces


def _noisy(img: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def _shifted(img: np.ndarray, dx: float) -> np.ndarray:
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, 0]]), (img.shape[1], img.shape[0]),
                          borderMode=cv2.BORDER_REFLECT)


def test_still_face_jitters_less_with_smoothing(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    frames = _noisy(astronaut_bgr, 30)
    jitter = {}
    for smoothing in (0.0, 0.7):
        tracked = TrackedDetector(detector, detect_every=3, smoothing=smoothing)
        lm = np.stack([tracked.detect(f)[0].landmarks for f in frames])
        jitter[smoothing] = float(lm[5:].std(0).mean())
    assert jitter[0.7] < 0.6 * jitter[0.0]


def test_moving_face_is_followed_with_little_lag(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    tracked = TrackedDetector(detector, detect_every=3, smoothing=0.7)
    lags = []
    for i in range(20):
        frame = _shifted(astronaut_bgr, 3.0 * i - 30)
        got = tracked.detect(frame)
        truth = detector.detect(frame)[0].landmarks
        assert len(got) == 1
        lags.append(float(np.abs(got[0].landmarks[:, 0] - truth[:, 0]).mean()))
    assert max(lags[3:]) < 3.0  # moving 3 px per frame, lagging at most about a frame


def test_detects_every_n_frames_and_tracks_between(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    counting = Counting(detector)  # has no mesh-tracking method itself: tracked with ``tracker``
    tracked = TrackedDetector(counting, detect_every=4, smoothing=0.0, tracker=detector)  # type: ignore[arg-type]
    ref = detector.detect(astronaut_bgr)[0]
    for i, frame in enumerate(_noisy(astronaut_bgr, 8)):
        faces = tracked.detect(frame)
        assert len(faces) == 1
        assert np.abs(faces[0].kps - ref.kps).max() < 4
        assert tracked.last_was_detection == (i % 4 == 0)
    assert counting.calls == 2  # frames 0 and 4


def test_embedded_redetection_reuses_tracks(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """With the embedded detector, periodic detections run BlazeFace only and keep the mesh track."""
    tracked = TrackedDetector(detector, detect_every=2, smoothing=0.0)
    first = tracked.detect(astronaut_bgr)[0]
    for _ in range(4):
        faces = tracked.detect(astronaut_bgr)
        assert len(faces) == 1
        assert np.abs(faces[0].landmarks - first.landmarks).max() < 3


def test_lost_face_and_scene_change(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                    group_bgr: np.ndarray) -> None:
    tracked = TrackedDetector(detector, detect_every=10, smoothing=0.5)
    assert len(tracked.detect(astronaut_bgr)) == 1
    blank = np.full_like(astronaut_bgr, 127)
    assert tracked.detect(blank) == []  # lost: no stale face drawn on an empty frame
    assert len(tracked.detect(astronaut_bgr)) == 1
    group = tracked.detect(group_bgr)  # a cut: everything found again on the very first frame
    assert len(group) >= 5 and tracked.last_was_detection


def test_bare_detector_keeps_its_keypoints(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """A detector without a mesh (SCRFD-like): between detections its 5 points move with the face."""
    counting = Counting(detector, bare=True)
    tracked = TrackedDetector(counting, detect_every=5, smoothing=0.0, tracker=detector)  # type: ignore[arg-type]
    ref = counting.inner.detect(astronaut_bgr)[0]
    for i in range(5):
        got = tracked.detect(_shifted(astronaut_bgr, 2.0 * i))
        assert len(got) == 1 and got[0].landmarks is None
        np.testing.assert_allclose(got[0].kps, ref.kps + [2.0 * i, 0], atol=2.5)
    assert counting.calls == 1


def test_one_euro_follows_a_step_and_damps_noise() -> None:
    f = OneEuro(min_cutoff=0.5, beta=1.0)
    rng = np.random.default_rng(0)
    out = [f(np.array([[0.0, 0.0]]) + rng.normal(0, 0.01, (1, 2)), 1 / 30) for _ in range(60)]
    assert np.std(np.concatenate(out[10:])) < 0.004
    for _ in range(10):
        y = f(np.array([[1.0, 1.0]]), 1 / 30)
    assert np.abs(y - 1.0).max() < 0.1


def test_small_new_face_is_found_while_tracking(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """Periodic detections scan the small-face tiles round-robin: a newcomer is found within a few rounds."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[:, :720] = cv2.resize(astronaut_bgr, (720, 720), interpolation=cv2.INTER_LINEAR)
    tracked = TrackedDetector(detector, detect_every=2, smoothing=0.5)
    assert len(tracked.detect(frame)) == 1
    small = cv2.resize(astronaut_bgr, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    frame[250:250 + small.shape[0], 820:820 + small.shape[1]] = small
    counts = [len(tracked.detect(frame)) for _ in range(2 * 4 + 1)]
    assert counts[-1] == 2 and counts[0] == 1  # not yet on the first frame, found within 4 detections
