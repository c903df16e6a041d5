"""SCRFD decoding through a real ONNX session of the det_10g stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.errors import ModelSignatureError
from obs_faceswap.models.session import create_session
from obs_faceswap.vision import scrfd
from obs_faceswap.vision.scrfd import ScrfdDetector, decode, nms
from tests.standins import face as sf

FACE_A = sf.PlacedFace((100.0, 80.0, 260.0, 280.0), ((140, 150), (220, 150), (180, 200), (150, 240), (210, 240)), 0.95)
FACE_B = sf.PlacedFace((700.0, 300.0, 820.0, 450.0), ((730, 350), (790, 352), (760, 390), (735, 420), (785, 421)), 0.8)


def _detector(path: Path, faces, size) -> ScrfdDetector:  # type: ignore[no-untyped-def]
    model = sf.build_scrfd(path, faces, size)
    return ScrfdDetector(create_session(model, "cpu", expect_inputs=scrfd.INPUTS, expect_outputs=scrfd.OUTPUTS))


def test_recovers_boxes_and_keypoints_in_frame_pixels(tmp_path: Path) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)  # letterboxed at scale 0.5, padding below
    det = _detector(tmp_path / "det.onnx", [FACE_A, FACE_B], (1280, 720))
    faces = sorted(det.detect(frame), key=lambda f: f.bbox[0])
    assert len(faces) == 2  # the shifted duplicates were suppressed by NMS
    for got, want in zip(faces, [FACE_A, FACE_B], strict=True):
        np.testing.assert_allclose(got.bbox, want.bbox, atol=0.05)
        np.testing.assert_allclose(got.kps, np.asarray(want.kps, np.float32), atol=0.05)
        assert got.score == pytest.approx(want.score, abs=1e-6)
        assert got.kps.shape == (5, 2) and got.kps.dtype == np.float32


def test_portrait_frame_scales_by_height(tmp_path: Path) -> None:
    frame = np.zeros((900, 500, 3), np.uint8)
    face = sf.PlacedFace((120.0, 300.0, 380.0, 640.0), ((190, 430), (310, 430), (250, 500), (200, 570), (300, 570)))
    det = _detector(tmp_path / "det.onnx", [face], (500, 900))
    (got,) = det.detect(frame)
    np.testing.assert_allclose(got.bbox, face.bbox, atol=0.05)


def test_scores_below_threshold_and_empty_frames_give_no_faces(tmp_path: Path) -> None:
    weak = sf.PlacedFace(FACE_A.bbox, FACE_A.kps, 0.4)
    det = _detector(tmp_path / "det.onnx", [weak], (640, 640))
    assert det.detect(np.zeros((640, 640, 3), np.uint8)) == []
    det.score_threshold = 0.3
    assert len(det.detect(np.zeros((640, 640, 3), np.uint8))) == 1


def test_nms_keeps_separate_boxes_and_drops_overlaps() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105], [200, 200, 300, 300]], np.float32)
    scores = np.array([0.9, 0.95, 0.7], np.float32)
    assert nms(boxes, scores, 0.4) == [1, 2]


def test_decode_rejects_outputs_for_another_input_size() -> None:
    outs = sf.scrfd_outputs([FACE_A], (640, 640), input_size=320)
    with pytest.raises(ValueError, match="anchors"):
        decode(outs, 640)


def test_wrong_model_is_refused_with_expected_signature(tmp_path: Path) -> None:
    wrong = sf.build_arcface(tmp_path / "arc.onnx")
    with pytest.raises(ModelSignatureError, match="input.1"):
        create_session(wrong, "cpu", expect_inputs=scrfd.INPUTS, expect_outputs=scrfd.OUTPUTS, family="scrfd")


def test_output_order_matches_insightface(tmp_path: Path) -> None:
    """insightface's own SCRFD wrapper decodes our stand-in to the same faces (same output order)."""
    import insightface

    model = sf.build_scrfd(tmp_path / "det.onnx", [FACE_A, FACE_B], (1280, 720))
    theirs = insightface.model_zoo.get_model(str(model), providers=["CPUExecutionProvider"])
    theirs.prepare(ctx_id=-1, input_size=(640, 640), det_thresh=0.5)
    frame = np.zeros((720, 1280, 3), np.uint8)
    bboxes, kpss = theirs.detect(frame, input_size=(640, 640))
    ours = ScrfdDetector(create_session(model, "cpu")).detect(frame)
    order = np.argsort(bboxes[:, 0])
    ours.sort(key=lambda f: f.bbox[0])
    np.testing.assert_allclose(np.stack([f.bbox for f in ours]), bboxes[order, :4], atol=0.5)
    np.testing.assert_allclose(np.stack([f.kps for f in ours]), kpss[order], atol=0.5)
