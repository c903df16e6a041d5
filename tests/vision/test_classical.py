"""The classical (embedded) swapper on real photos: source from the group photo, target the astronaut."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import NoFaceError
from obs_faceswap.vision.classical import ClassicalSource, ClassicalSwapper, face_roi, warp_source
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.types import Face


@pytest.fixture(scope="module")
def detector() -> EmbeddedDetector:
    return EmbeddedDetector(provider="cpu")


@pytest.fixture(scope="module")
def source_photo(group_bgr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(group_bgr[250:450, 430:620])  # one man from the group photo


@pytest.fixture(scope="module")
def swapper(detector: EmbeddedDetector) -> ClassicalSwapper:
    return ClassicalSwapper(detector=detector)


@pytest.fixture(scope="module")
def source(swapper: ClassicalSwapper, source_photo: np.ndarray) -> ClassicalSource:
    return swapper.prepare_source([source_photo])


@pytest.fixture(scope="module")
def target(detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> Face:
    return detector.detect(astronaut_bgr)[0]


def _face_mask(face: Face, shape: tuple[int, ...], shrink: float = 0.2) -> np.ndarray:
    """Pixels well inside the target face (convex hull shrunk toward its centre)."""
    pts = face.landmarks
    c = pts.mean(0)
    hull = cv2.convexHull(((pts - c) * (1 - shrink) + c).astype(np.int32))
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, hull, 1)
    return m.astype(bool)


def test_source_is_triangulated_once(source: ClassicalSource) -> None:
    assert source.points.shape == (468, 2)
    assert len(source.triangles) > 800 and source.triangles.max() == 467


def test_face_changes_and_nothing_else(swapper: ClassicalSwapper, source: ClassicalSource,
                                       target: Face, astronaut_bgr: np.ndarray) -> None:
    out = swapper.swap(astronaut_bgr, [target], source)
    assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8
    inside = _face_mask(target, out.shape)
    diff = np.abs(out.astype(np.int16) - astronaut_bgr.astype(np.int16)).max(-1)
    assert diff[inside].mean() > 12  # another person's face
    x0, y0, x1, y1 = face_roi(target.landmarks, out.shape)  # type: ignore[arg-type,misc]
    outside = np.ones(out.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], astronaut_bgr[outside])  # byte-identical away from the face
    assert not np.shares_memory(out, astronaut_bgr)


def test_output_keeps_target_pose_and_mouth(swapper: ClassicalSwapper, source: ClassicalSource, target: Face,
                                            detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    out = swapper.swap(astronaut_bgr, [target], source)
    again = detector.detect(out)
    assert len(again) == 1
    size = float(target.bbox[2] - target.bbox[0])
    err = np.linalg.norm(again[0].landmarks - target.landmarks, axis=1).mean()
    assert err < 0.05 * size
    # her mouth is open (smile): the swapped face's mouth is open by about as much
    def opening(lm: np.ndarray) -> float:
        return float(np.linalg.norm(lm[13] - lm[14]) / np.linalg.norm(lm[78] - lm[308]))
    src_face = detector.detect(source.image)[0]
    assert abs(opening(src_face.landmarks) - opening(target.landmarks)) > 0.05  # the source's mouth differs
    print("mouth opening: source", opening(src_face.landmarks), "target", opening(target.landmarks),
          "output", opening(again[0].landmarks))
    assert opening(again[0].landmarks) == pytest.approx(opening(target.landmarks), abs=0.03)


def test_colour_moves_to_target_skin(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                                     astronaut_bgr: np.ndarray) -> None:
    inside = _face_mask(target, astronaut_bgr.shape, shrink=0.35)
    want = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2LAB)[inside].mean(0)
    gaps = {}
    for method in ("none", "lab"):
        sw = ClassicalSwapper({"color_method": method, "color_strength": 100}, detector=detector)
        out = sw.swap(astronaut_bgr, [target], source)
        gaps[method] = float(np.abs(cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[inside].mean(0) - want).max())
    assert gaps["lab"] < 8
    assert gaps["lab"] < gaps["none"]


def test_look_settings_apply(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                             astronaut_bgr: np.ndarray) -> None:
    sw = ClassicalSwapper(detector=detector)
    sw.configure({"blend": 0})
    assert np.array_equal(sw.swap(astronaut_bgr, [target], source), astronaut_bgr)
    sw.configure({"blend": 100, "keep_mouth": False})
    swapped = sw.swap(astronaut_bgr, [target], source)
    sw.update({"keep_mouth": True})
    kept = sw.swap(astronaut_bgr, [target], source)
    lips = np.zeros(astronaut_bgr.shape[:2], np.uint8)
    from obs_faceswap.vision.embedded import OUTER_LIPS

    cv2.fillPoly(lips, [target.landmarks[OUTER_LIPS].astype(np.int32)], 1)
    lips = lips.astype(bool)
    d_kept = np.abs(kept.astype(int) - astronaut_bgr)[lips].mean()
    d_swapped = np.abs(swapped.astype(int) - astronaut_bgr)[lips].mean()
    assert d_kept < 0.5 * d_swapped  # her own lips are back


def test_no_face_leaves_frame_unchanged(swapper: ClassicalSwapper, source: ClassicalSource,
                                        detector: EmbeddedDetector) -> None:
    frame = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    faces = detector.detect(frame)
    assert faces == []
    assert np.array_equal(swapper.swap(frame, faces, source), frame)


def test_source_without_face_raises(swapper: ClassicalSwapper, astronaut_bgr: np.ndarray) -> None:
    helmet = np.ascontiguousarray(astronaut_bgr[330:, :])
    with pytest.raises(NoFaceError, match="no face found in helmet.png"):
        swapper.prepare_source([helmet], names=["helmet.png"])
    with pytest.raises(NoFaceError, match="no face found"):
        swapper.prepare_source([helmet])


def test_face_without_mesh_gets_one(swapper: ClassicalSwapper, source: ClassicalSource, target: Face,
                                    astronaut_bgr: np.ndarray) -> None:
    """A SCRFD-style face (box + 5 points only) is swapped too."""
    bare = Face(bbox=target.bbox.copy(), score=0.9, kps=target.kps.copy())
    out = swapper.swap(astronaut_bgr, [bare], source)
    full = swapper.swap(astronaut_bgr, [target], source)
    inside = _face_mask(target, out.shape)
    assert np.abs(out.astype(int) - astronaut_bgr)[inside].mean() > 12
    assert np.abs(out.astype(int) - full)[inside].mean() < 6


def test_single_remap_matches_per_triangle_warp(source: ClassicalSource, target: Face) -> None:
    """The vectorised warp equals the textbook per-triangle warpAffine inside the face."""
    from obs_faceswap.bench.pipeline import warp_per_triangle

    x0, y0, x1, y1 = face_roi(target.landmarks, (512, 512))  # type: ignore[misc]
    local = target.landmarks - np.float32([x0, y0])
    fast, covered = warp_source(source, local, (y1 - y0, x1 - x0))
    slow = warp_per_triangle(source, local, (y1 - y0, x1 - x0))
    inner = cv2.erode(covered, np.ones((5, 5), np.uint8)) > 0
    assert np.abs(fast.astype(int) - slow)[inner].mean() < 2.5


def test_seamless_option(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                         astronaut_bgr: np.ndarray) -> None:
    out = ClassicalSwapper(detector=detector, seamless=True).swap(astronaut_bgr, [target], source)
    inside = _face_mask(target, out.shape)
    assert np.abs(out.astype(int) - astronaut_bgr)[inside].mean() > 8


def test_bench_pipeline_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from obs_faceswap.cli import main

    assert main(["bench", "pipeline", "--json", "--repeat", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("detect_ms", "landmarks_ms", "warp_ms", "color_ms", "blend_ms", "total_ms", "fps",
                "baseline_warp_per_triangle_ms", "baseline_seamless_swap_ms"):
        assert result[key] > 0
    assert result["face_px"] > 100 and result["frame"] == "1280x720"


def test_face_cut_by_the_frame_edge(detector: EmbeddedDetector, swapper: ClassicalSwapper,
                                    source: ClassicalSource, astronaut_bgr: np.ndarray) -> None:
    """A face partly outside the frame is swapped where visible; nothing breaks at the border."""
    frame = np.ascontiguousarray(astronaut_bgr[:, 200:])  # cuts off a quarter of her face
    faces = detector.detect(frame)
    assert len(faces) == 1 and faces[0].bbox[0] < 0  # the mesh continues past the edge
    out = swapper.swap(frame, faces, source)
    changed = (out != frame).any(-1)
    assert changed[:, :20].any() and changed.sum() > 1000


def test_several_photos_use_the_best_face(swapper: ClassicalSwapper, source_photo: np.ndarray,
                                          astronaut_bgr: np.ndarray) -> None:
    helmet = np.ascontiguousarray(astronaut_bgr[330:, :])
    tiny = cv2.resize(astronaut_bgr, (256, 256), interpolation=cv2.INTER_AREA)
    src = swapper.prepare_source([helmet, tiny, astronaut_bgr])
    assert src.photo_index == 2  # no face, a small face, the same face larger
