"""The embedded detector (converted BlazeFace + Face Mesh ONNX) on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import ModelSignatureError
from obs_faceswap.vision.embedded import (
    DETECTOR_FILE,
    MESH_FILE,
    EmbeddedDetector,
    embedded_model_path,
    ssd_anchors,
)
from obs_faceswap.vision.types import Face


@pytest.fixture(scope="module")
def detector() -> EmbeddedDetector:
    return EmbeddedDetector(provider="cpu")


def _check_face(face: Face) -> None:
    x1, y1, x2, y2 = face.bbox
    assert x2 - x1 > 10 and y2 - y1 > 10
    assert face.kps.shape == (5, 2) and face.kps.dtype == np.float32
    assert face.landmarks is not None and face.landmarks.shape == (468, 2)
    inside = (face.kps[:, 0] >= x1) & (face.kps[:, 0] <= x2) & (face.kps[:, 1] >= y1) & (face.kps[:, 1] <= y2)
    assert inside.all()


def _upright_order(face: Face) -> None:
    """insightface order on an upright face: eyes left-right, nose below, mouth corners below the nose."""
    le, re, nose, lm, rm = face.kps
    assert le[0] < re[0] and lm[0] < rm[0]
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])
    assert le[0] < nose[0] < re[0]


def test_anchors_follow_mediapipe_layout() -> None:
    a = ssd_anchors()
    assert a.shape == (896, 2)
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])  # stride 8: 2 anchors per 16x16 cell
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])  # stride 16: 6 anchors per 8x8 cell
    np.testing.assert_allclose(a[517], a[512])
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])


def test_astronaut_one_face_with_mesh(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    faces = detector.detect(astronaut_bgr)
    assert len(faces) == 1
    f = faces[0]
    _check_face(f)
    _upright_order(f)
    cx, cy = f.center
    assert 190 < cx < 270 and 90 < cy < 160  # her face, not the flag or the helmet
    assert f.score > 0.7
    # mesh geometry: inter-ocular distance vs face width like a human face
    eyes = float(np.linalg.norm(f.kps[1] - f.kps[0]))
    width = float(f.bbox[2] - f.bbox[0])
    assert 0.3 < eyes / width < 0.55


def test_mesh_agrees_with_blazeface_keypoints(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """Two independent networks: the mesh's eye/nose points land where BlazeFace put its own."""
    (box, kp6, _), *_ = detector.detect_boxes(astronaut_bgr)
    f = detector.detect(astronaut_bgr)[0]
    size = float(box[2] - box[0])
    assert np.linalg.norm(f.kps[0] - kp6[0]) < 0.12 * size  # right eye (image left)
    assert np.linalg.norm(f.kps[1] - kp6[1]) < 0.12 * size
    assert np.linalg.norm(f.kps[2] - kp6[2]) < 0.12 * size  # nose tip


def test_group_photo_finds_most_faces(detector: EmbeddedDetector, group_bgr: np.ndarray) -> None:
    faces = detector.detect(group_bgr)
    assert len(faces) >= 5  # t1.jpg has 6 people
    for f in faces:
        _check_face(f)
    centres = np.array([f.center for f in faces])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(faces)) * 1e9
    assert gaps.min() > 40  # one face each, no duplicates


def test_no_face_returns_empty(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert detector.detect(gradient) == []
    assert detector.detect(np.ascontiguousarray(astronaut_bgr[330:, :])) == []  # suit and helmet only
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []


def test_small_and_large_faces(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    ref = detector.detect(astronaut_bgr)[0]
    size = float(ref.bbox[2] - ref.bbox[0])
    # small: the whole photo at 0.8x inside a 720p frame (face ~75 px of 720)
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    small = cv2.resize(astronaut_bgr, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    canvas[200:200 + small.shape[0], 700:700 + small.shape[1]] = small
    got = detector.detect(canvas)
    assert len(got) == 1
    back = (got[0].landmarks - [700, 200]) / 0.8
    assert np.linalg.norm(back - ref.landmarks, axis=1).mean() < 0.04 * size
    # large: the face filling a 720x720 frame
    crop = astronaut_bgr[40:220, 140:320]
    big = cv2.resize(crop, (720, 720), interpolation=cv2.INTER_CUBIC)
    got = detector.detect(big)
    assert len(got) == 1
    back = got[0].landmarks / 4.0 + [140, 40]
    assert np.linalg.norm(back - ref.landmarks, axis=1).mean() < 0.04 * size


def test_rolled_face_keeps_keypoint_order(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    ref = detector.detect(astronaut_bgr)[0]
    rot = cv2.getRotationMatrix2D(ref.center, 35, 1.0)  # counter-clockwise on screen
    turned = cv2.warpAffine(astronaut_bgr, rot, (512, 512), borderMode=cv2.BORDER_REFLECT)
    faces = [f for f in detector.detect(turned) if np.linalg.norm(np.subtract(f.center, ref.center)) < 40]
    assert len(faces) == 1
    v = faces[0].kps[1] - faces[0].kps[0]
    v0 = ref.kps[1] - ref.kps[0]
    turn = np.degrees(np.arctan2(v0[1], v0[0]) - np.arctan2(v[1], v[0]))
    assert turn == pytest.approx(35, abs=6)
    expected = ref.landmarks @ rot[:, :2].T + rot[:, 2]
    assert np.linalg.norm(faces[0].landmarks - expected, axis=1).mean() < 0.05 * (ref.bbox[2] - ref.bbox[0])


def test_wrong_file_is_refused_with_its_signature() -> None:
    with pytest.raises(ModelSignatureError, match="embedded_face_detector"):
        EmbeddedDetector(provider="cpu", detector_path=embedded_model_path(MESH_FILE))
    assert embedded_model_path(DETECTOR_FILE).stat().st_size < 5_000_000


def test_shipped_files_match_their_notice() -> None:
    """The converted files are the ones NOTICE names (so 'how to regenerate' stays true)."""
    import hashlib

    notice = (embedded_model_path("NOTICE")).read_text()
    assert "Apache License" in embedded_model_path("LICENSE-mediapipe.txt").read_text()
    for name in (DETECTOR_FILE, MESH_FILE):
        digest = hashlib.sha256(embedded_model_path(name).read_bytes()).hexdigest()
        assert f"onnx   sha256 {digest}" in notice, f"{name} differs from the file NOTICE describes"
