"""The classical (embedded) swapper on real photos: source from the group photo, target the astronaut."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import NoFaceError
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.merge import swap_all
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.swappers.classical import ClassicalSource, ClassicalSwapper
from obs_faceswap.vision.swappers.classical.swapper import face_roi
from obs_faceswap.vision.swappers.classical.warp import warp_source
from obs_faceswap.vision.types import Face


def swap(sw: ClassicalSwapper, frame: np.ndarray, faces: list[Face], source: ClassicalSource,
         settings: dict[str, object] | None = None, *, seamless: bool = False) -> np.ndarray:
    """The classical swap step for each face, through the one merge stage."""
    return swap_all(frame, faces, sw, source, FaceOptions.from_settings(settings), seamless=seamless)


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
    return swapper.prepare_source([("me.png", source_photo)]).value  # type: ignore[return-value]


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


def _independent_face_region(img: np.ndarray) -> np.ndarray:
    """Where a face may change, from a detector unrelated to the code under test: OpenCV's Haar
    cascade box of the one face, grown by 25 % on every side (its box stops above the chin)."""
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = haar.detectMultiScale(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(40, 40))
    assert len(boxes) == 1
    x, y, w, h = (int(v) for v in boxes[0])
    d = w // 4
    region = np.zeros(img.shape[:2], bool)
    region[max(0, y - d):y + h + d, max(0, x - d):x + w + d] = True
    return region


def _assert_only_the_face_changed(out: np.ndarray, before: np.ndarray, target: Face) -> None:
    """With shape_strength 0: only pixels inside the target's own face outline change."""
    changed = (out != before).any(-1)
    region = _independent_face_region(before)
    assert not changed[~region].any()  # byte-identical away from the face
    assert changed.mean() < 0.05  # a face, not the picture
    # inside the face outline, not the whole rectangle around it: fewer changed pixels than the
    # target mesh's convex hull holds, and none beyond it (grown by 5 % of the face size)
    hull = np.zeros(before.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(target.landmarks[:, :2].astype(np.int32)), 1)  # type: ignore[index]
    assert changed.sum() < hull.sum()
    grow = int(0.05 * (target.bbox[2] - target.bbox[0])) * 2 + 1
    assert not (changed & (cv2.dilate(hull, np.ones((grow, grow), np.uint8)) == 0)).any()


def test_source_is_triangulated_once(source: ClassicalSource) -> None:
    assert source.points.shape == (468, 2)
    assert len(source.triangles) > 800 and source.triangles.max() == 467


def test_face_changes_and_nothing_else(detector: EmbeddedDetector, source: ClassicalSource,
                                       target: Face, astronaut_bgr: np.ndarray) -> None:
    out = swap(ClassicalSwapper(detector=detector), astronaut_bgr, [target], source, {"shape_strength": 0})
    assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8
    inside = _face_mask(target, out.shape)
    diff = np.abs(out.astype(np.int16) - astronaut_bgr.astype(np.int16)).max(-1)
    assert diff[inside].mean() > 12  # another person's face
    _assert_only_the_face_changed(out, astronaut_bgr, target)
    assert not np.shares_memory(out, astronaut_bgr)


def test_shape_transfer_changes_only_the_face_and_its_surroundings(
        swapper: ClassicalSwapper, source: ClassicalSource, target: Face, astronaut_bgr: np.ndarray) -> None:
    """The default moves the outline: her hair line and neck follow it inside the face's ROI, which an
    independent detector's face box grown by half holds; everything else is byte-identical."""
    out = swap(swapper, astronaut_bgr, [target], source)
    changed = (out != astronaut_bgr).any(-1)
    haar = _independent_face_region(astronaut_bgr)  # box grown by 25 %
    ys, xs = np.nonzero(haar)
    grow = (xs.max() - xs.min()) // 6
    region = np.zeros_like(haar)
    region[max(0, ys.min() - grow):ys.max() + grow, max(0, xs.min() - grow):xs.max() + grow] = True
    assert changed.any() and not changed[~region].any()


def test_output_keeps_target_pose_and_mouth(swapper: ClassicalSwapper, source: ClassicalSource, target: Face,
                                            detector: EmbeddedDetector, astronaut_bgr: np.ndarray) -> None:
    """shape_strength 0: the target's own face shape (tests/vision/test_identity.py judges the default)."""
    out = swap(swapper, astronaut_bgr, [target], source, {"shape_strength": 0})
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
        out = swap(ClassicalSwapper(detector=detector), astronaut_bgr, [target], source,
                   {"color_method": method, "color_strength": 100})
        gaps[method] = float(np.abs(cv2.cvtColor(out, cv2.COLOR_BGR2LAB)[inside].mean(0) - want).max())
    assert gaps["lab"] < 8
    assert gaps["lab"] < gaps["none"]


def test_look_settings_apply(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                             astronaut_bgr: np.ndarray) -> None:
    sw = ClassicalSwapper(detector=detector)
    assert np.array_equal(swap(sw, astronaut_bgr, [target], source, {"blend": 0}), astronaut_bgr)
    swapped = swap(sw, astronaut_bgr, [target], source, {"blend": 100, "keep_mouth": False})
    kept = swap(sw, astronaut_bgr, [target], source, {"blend": 100, "keep_mouth": True})
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
    assert np.array_equal(swap(swapper, frame, faces, source), frame)


def test_source_without_face_raises(swapper: ClassicalSwapper, astronaut_bgr: np.ndarray) -> None:
    helmet = np.ascontiguousarray(astronaut_bgr[330:, :])
    with pytest.raises(NoFaceError, match="no face found in helmet.png"):
        swapper.prepare_source([("helmet.png", helmet)])
    with pytest.raises(NoFaceError, match="no face found"):
        swapper.prepare_source([("", helmet)])


def test_face_without_mesh_gets_one(swapper: ClassicalSwapper, source: ClassicalSource, target: Face,
                                    astronaut_bgr: np.ndarray) -> None:
    """A SCRFD-style face (box + 5 points only) is swapped too."""
    bare = Face(bbox=target.bbox.copy(), score=0.9, kps=target.kps.copy())
    out = swap(swapper, astronaut_bgr, [bare], source)
    full = swap(swapper, astronaut_bgr, [target], source)
    inside = _face_mask(target, out.shape)
    # swapped about as much as with the full mesh (the target's lighting is kept: ~12 grey levels)
    changed = np.abs(out.astype(int) - astronaut_bgr)[inside].mean()
    assert changed > 8 and changed > 0.7 * np.abs(full.astype(int) - astronaut_bgr)[inside].mean()
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
    out = swap(ClassicalSwapper(detector=detector), astronaut_bgr, [target], source, {"shape_strength": 0}, seamless=True)
    inside = _face_mask(target, out.shape)
    assert np.abs(out.astype(int) - astronaut_bgr)[inside].mean() > 8
    _assert_only_the_face_changed(out, astronaut_bgr, target)  # Poisson blending does not bleed out


def test_bench_pipeline_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from obs_faceswap.cli import main

    assert main(["bench", "pipeline", "--json", "--repeat", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("detect_ms", "landmarks_ms", "swap_step_ms", "color_ms", "paste_ms", "total_ms", "fps",
                "baseline_warp_per_triangle_ms", "baseline_seamless_swap_ms", "mask_keep_mouth_ms",
                "mask_occlusion_roi_ms", "mask_parser_roi_ms", "swap_keep_mouth_ms", "jitter_ratio_smoothing_50",
                "total_cpu_ms", "baseline_shape0_total_cpu_ms"):
        assert result[key] > 0
    assert result["face_px"] > 100 and result["frame"] == "1280x720"


def test_face_cut_by_the_frame_edge(detector: EmbeddedDetector, swapper: ClassicalSwapper,
                                    source: ClassicalSource, astronaut_bgr: np.ndarray) -> None:
    """A face partly outside the frame is swapped where visible; nothing breaks at the border."""
    frame = np.ascontiguousarray(astronaut_bgr[:, 200:])  # cuts off a quarter of her face
    faces = detector.detect(frame)
    assert len(faces) == 1 and faces[0].bbox[0] < 0  # the mesh continues past the edge
    out = swap(swapper, frame, faces, source)
    changed = (out != frame).any(-1)
    assert changed[:, :20].any() and changed.sum() > 1000


def test_several_photos_use_the_best_face(swapper: ClassicalSwapper, source_photo: np.ndarray,
                                          astronaut_bgr: np.ndarray) -> None:
    helmet = np.ascontiguousarray(astronaut_bgr[330:, :])
    tiny = cv2.resize(astronaut_bgr, (256, 256), interpolation=cv2.INTER_AREA)
    prepared = swapper.prepare_source([("helmet.png", helmet), ("tiny.png", tiny), ("me.png", astronaut_bgr)])
    src = prepared.value
    assert "me.png" in prepared.note
    assert src.photo_index == 2  # no face, a small face, the same face larger


# ---------------------------------------------------------------- what a viewer notices


def _skin_lab(img: np.ndarray, face: Face) -> np.ndarray:
    """Mean LAB (L 0..100) of the face's bare skin (eyes, brows, lips excluded)."""
    from obs_faceswap.vision.swappers.classical.masks import skin_mask

    x0, y0, x1, y1 = face_roi(face.landmarks, img.shape)  # type: ignore[arg-type,misc]
    local = face.landmarks - np.float32([x0, y0])  # type: ignore[operator]
    skin = cv2.erode(skin_mask(local, (y1 - y0, x1 - x0)), np.ones((5, 5), np.uint8)) > 0.5
    lab = cv2.cvtColor(img[y0:y1, x0:x1].astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
    return lab[skin].mean(0)  # type: ignore[no-any-return]


def _detail(img: np.ndarray, face: Face) -> float:
    """Variance of the Laplacian inside the face: how sharp it looks."""
    pts = face.landmarks
    c = pts.mean(0)
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(((pts - c) * 0.8 + c).astype(np.int32)), 1)
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)[m > 0].var())


def test_every_swapped_face_takes_its_own_skin_tone(swapper: ClassicalSwapper, detector: EmbeddedDetector,
                                                    astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> None:
    # one pale source on six differently lit faces: each keeps its own skin colour (no red nose, no
    # grey/cyan highlight patch: those moved a face's mean skin colour by up to 3.6 LAB units before)
    src = swapper.prepare_source([("", astronaut_bgr)]).value
    faces = detector.detect(group_bgr)
    out = swap(swapper, group_bgr, faces, src, {"shape_strength": 0})  # judged on the unmoved face outline
    gaps = [float(np.linalg.norm(_skin_lab(out, f) - _skin_lab(group_bgr, f))) for f in faces]
    assert len(gaps) == 6 and max(gaps) < 1.5, gaps


def test_soft_source_is_not_pasted_blurry(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                                          astronaut_bgr: np.ndarray) -> None:
    # the source is a small JPEG face from the group photo; the astronaut is a sharp portrait
    out = swap(ClassicalSwapper(detector=detector), astronaut_bgr, [target], source, {"shape_strength": 0})
    assert _detail(out, target) > 0.42 * _detail(astronaut_bgr, target)  # was 0.34 without matching


def test_swap_keeps_the_target_lighting(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                                        astronaut_bgr: np.ndarray) -> None:
    # light the target from her left, across the face: the swapped face is as much darker on that
    # side (before the lighting transfer it was 0.86 against the target's 0.66)
    x0, y0, x1, y1 = (int(v) for v in target.bbox)
    xs = np.arange(astronaut_bgr.shape[1], dtype=np.float32)
    ramp = np.clip(0.4 + 0.6 * (xs - x0) / (x1 - x0), 0.4, 1.0)[None, :, None]
    lit = np.clip(astronaut_bgr.astype(np.float32) * ramp, 0, 255).astype(np.uint8)
    face = detector.detect(lit)[0]
    out = swap(ClassicalSwapper(detector=detector), lit, [face], source)
    cheeks = slice(y0 + (y1 - y0) // 3, y0 + 2 * (y1 - y0) // 3)
    q = (x1 - x0) // 4
    left, right = slice(x0 + q // 2, x0 + q), slice(x1 - q, x1 - q // 2)

    def ratio(img: np.ndarray) -> float:
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float(grey[cheeks, left].mean() / grey[cheeks, right].mean())

    assert abs(ratio(out) - ratio(lit)) < 0.06, (ratio(out), ratio(lit))


def test_eyes_open_unlike_the_target_show_the_target_eyes(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                                         group_bgr: np.ndarray) -> None:
    from obs_faceswap.vision.swappers.classical.masks import eye_keep

    target = detector.detect(astronaut_bgr)[0]  # eyes open
    same = eye_keep(target.landmarks, target.landmarks, astronaut_bgr.shape[:2])
    assert same is None  # matching eyes: the source's own eyes are used
    downcast = detector.detect(np.ascontiguousarray(group_bgr[200:470, 0:240]))[0]  # eyes nearly closed
    keep = eye_keep(target.landmarks, downcast.landmarks, astronaut_bgr.shape[:2])
    assert keep is not None
    eye = target.landmarks[[33, 133, 362, 263]].mean(0).astype(int)  # between the eyes' corners
    right_eye = target.landmarks[[33, 133]].mean(0).astype(int)
    assert keep[right_eye[1], right_eye[0]] > 0.2 and keep.max() <= 1.0
    assert keep[eye[1] + 60, eye[0]] < 0.05  # the mouth area is untouched


def test_pipeline_enhancer_runs_on_the_embedded_swap(source_photo: np.ndarray, astronaut_bgr: np.ndarray,
                                                      tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the enhancer setting used to be ignored with the (default) embedded swapper
    from obs_faceswap.models.standins.quality import all_models, enhancer_expected
    from obs_faceswap.vision.pipeline import FacePipeline
    from obs_faceswap.vision.quality import QualityStages

    src = tmp_path / "me.png"
    cv2.imwrite(str(src), source_photo)
    settings = {"source_image": str(src), "swapper": "embedded", "detector": "embedded", "provider": "cpu"}
    pipe = FacePipeline.from_settings(settings)
    plain = pipe.process(astronaut_bgr)
    models = all_models(tmp_path / "models")
    pipe._s.quality = QualityStages.from_settings({**pipe.settings, "enhancer": "gfpgan_1.4", "enhancer_blend": 100}, "cpu",
                                    models=models)
    enhanced = pipe.process(astronaut_bgr)
    assert pipe.last_error == "" and "enhance_ms" in pipe.stats
    face = pipe._s.detector.detect(astronaut_bgr)[0]  # type: ignore[union-attr]
    x, y = (int(v) for v in face.center)
    centre = (slice(y - 10, y + 10), slice(x - 10, x + 10))
    # the stand-in GFPGAN inverts the face: the centre of the swapped face is the inverted swap
    want = enhancer_expected(plain[centre])
    assert np.abs(enhanced[centre].astype(np.float32) - want).mean() < 12
    assert np.array_equal(enhanced[:, 420:], astronaut_bgr[:, 420:])  # far from the face: untouched


def test_pipeline_passes_unusable_frames_through_with_a_clear_error(source_photo: np.ndarray,
                                                                     astronaut_bgr: np.ndarray,
                                                                     tmp_path) -> None:  # type: ignore[no-untyped-def]
    from obs_faceswap.vision.pipeline import FacePipeline

    src = tmp_path / "me.png"
    cv2.imwrite(str(src), source_photo)
    pipe = FacePipeline.from_settings({"source_image": str(src), "detector": "embedded", "provider": "cpu"}, live=True)
    for frame in (astronaut_bgr[..., 0].copy(), astronaut_bgr.astype(np.float32), np.zeros((0, 0, 3), np.uint8)):
        assert pipe.process(frame) is frame  # never raises, frame unchanged
        assert "expected an 8-bit BGR or BGRA image" in pipe.last_error
    out = pipe.process(astronaut_bgr)  # and the next good frame swaps again
    assert pipe.last_error == "" and pipe.stats["faces"] == 1 and not np.array_equal(out, astronaut_bgr)


def test_turned_faces_never_show_what_is_beyond_the_source_outline(detector: EmbeddedDetector,
                                                                   astronaut_bgr: np.ndarray,
                                                                   group_bgr: np.ndarray) -> None:
    # paint everything outside the source's face outline green: on the turned heads of the group
    # photo the far-side triangles fold over and used to paint it (as dark dots / grey patches
    # with a real photo's hair and background: 138 green pixels here before)
    from obs_faceswap.vision.embedded import FACE_OVAL
    from obs_faceswap.vision.swappers.classical.swapper import build_source
    from obs_faceswap.vision.swappers.classical.warp import visible_triangles

    face = detector.detect(astronaut_bgr)[0]
    outline = np.zeros(astronaut_bgr.shape[:2], np.uint8)
    cv2.fillPoly(outline, [face.landmarks[FACE_OVAL].astype(np.int32)], 1)  # type: ignore[index]
    painted = astronaut_bgr.copy()
    painted[outline == 0] = (0, 255, 0)
    src = build_source(painted, face)
    targets = detector.detect(group_bgr)
    out = swap(ClassicalSwapper(detector=detector), group_bgr, targets, src, {"color_method": "none"})
    o = out.astype(int)
    green = (o[..., 1] - np.maximum(o[..., 0], o[..., 2])) > 30
    dropped = []
    for t in targets:
        x0, y0, x1, y1 = face_roi(t.landmarks, group_bgr.shape)  # type: ignore[arg-type,misc]
        assert green[y0:y1, x0:x1].sum() <= 3
        local = t.landmarks - np.float32([x0, y0])  # type: ignore[operator]
        dropped.append(len(src.triangles) - len(visible_triangles(local, src.points, src.triangles)))
    assert max(dropped) > 50  # the turned heads do have folded triangles, left out of the warp
    frontal = face.landmarks - face.landmarks.min(0)  # type: ignore[union-attr]
    assert len(visible_triangles(frontal, src.points, src.triangles)) >= len(src.triangles) - 5


# ---------------------------------------------------------------- masks with the default (embedded) swapper


def _lips(face: Face, shape: tuple[int, ...]) -> np.ndarray:
    from obs_faceswap.vision.embedded import OUTER_LIPS

    lips = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(lips, [face.landmarks[OUTER_LIPS].astype(np.int32)], 1)  # type: ignore[index]
    return lips.astype(bool)


@pytest.mark.parametrize("seamless", [False, True])
def test_keep_mouth_keeps_the_target_lips_byte_for_byte(detector: EmbeddedDetector, source: ClassicalSource,
                                                        target: Face, astronaut_bgr: np.ndarray,
                                                        seamless: bool) -> None:
    lips = _lips(target, astronaut_bgr.shape)
    assert lips.sum() > 300
    sw = ClassicalSwapper(detector=detector)
    swapped = swap(sw, astronaut_bgr, [target], source, {"keep_mouth": False}, seamless=seamless)
    assert (swapped[lips] != astronaut_bgr[lips]).any(-1).mean() > 0.3
    out = swap(sw, astronaut_bgr, [target], source, {"keep_mouth": True}, seamless=seamless)
    assert np.array_equal(out[lips], astronaut_bgr[lips])  # her own lips, every pixel
    around = cv2.dilate(lips.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool) & ~lips
    assert (out[around] != astronaut_bgr[around]).any(-1).mean() > 0.3  # the face around them is swapped


@pytest.fixture(scope="module")
def quality_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.standins.quality import all_models

    return dict(all_models(tmp_path_factory.mktemp("quality_models")))


@pytest.mark.parametrize("setting", ["occlusion_mask", "mask_regions"])
def test_model_masks_apply_to_the_default_swapper(source_photo: np.ndarray, astronaut_bgr: np.ndarray,
                                                  target: Face, quality_models: dict[str, object], tmp_path,
                                                  setting: str) -> None:  # type: ignore[no-untyped-def]
    """A hand in front of the cheek (what the stand-in XSeg calls an occluder) or a region the face
    parser does not count as face (the stand-in BiSeNet's 'hat' colour) stays the camera's."""
    from obs_faceswap.vision.masks import REGIONS
    from obs_faceswap.vision.pipeline import FacePipeline
    from tests.standins.quality import OCCLUDER_BGR, PARSER_PALETTE_BGR

    src = tmp_path / "me.png"
    cv2.imwrite(str(src), source_photo)
    covered = astronaut_bgr.copy()
    cx, cy = int(target.kps[4][0]), int(target.kps[2][1])  # right of her mouth corner, at nose height
    patch = (slice(cy - 15, cy + 15), slice(cx - 5, cx + 45))
    covered[patch] = OCCLUDER_BGR if setting == "occlusion_mask" else PARSER_PALETTE_BGR[18]
    inner = (slice(patch[0].start + 2, patch[0].stop - 2), slice(patch[1].start + 2, patch[1].stop - 2))
    pipe = FacePipeline.from_settings({"source_image": str(src)}, quality_models=quality_models)  # defaults: embedded swapper
    assert pipe.settings["swapper"] == "embedded"
    plain = pipe.process(covered)
    assert pipe.stats["faces"] == 1 and (plain[inner] != covered[inner]).any(-1).mean() > 0.3
    everything_but_hats = ",".join(name for name in REGIONS if name != "hat")
    pipe.update(pipe.options.with_changes({setting: True} if setting == "occlusion_mask" else {setting: everything_but_hats}))
    out = pipe.process(covered)
    assert pipe.last_error == "" and pipe.stats["faces"] == 1 and pipe.stats["mask_ms"] > 0
    assert np.array_equal(out[inner], covered[inner])  # the covering thing shows, untouched
    face = _face_mask(target, covered.shape)
    face[patch] = False
    assert np.abs(out.astype(int) - covered)[face].mean() > 8  # the rest of the face is still swapped


def test_failed_update_keeps_the_working_embedded_pipeline(source_photo: np.ndarray, astronaut_bgr: np.ndarray,
                                                           quality_models: dict[str, object],
                                                           tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An update that fails (source photo missing) changes nothing: not the settings, not the look."""
    from obs_faceswap.errors import FaceSwapError
    from obs_faceswap.vision.pipeline import FacePipeline

    src = tmp_path / "me.png"
    cv2.imwrite(str(src), source_photo)
    pipe = FacePipeline.from_settings({"source_image": str(src), "detector": "embedded", "provider": "cpu"},
                        quality_models=quality_models)
    before = pipe.process(astronaut_bgr)
    assert pipe.stats["faces"] == 1 and not np.array_equal(before, astronaut_bgr)
    with pytest.raises(FaceSwapError):
        pipe.update(pipe.options.with_changes({"blend": 0, "occlusion_mask": True, "source_image": str(tmp_path / "nonexistent.png")}))
    assert pipe.settings["blend"] == 100 and pipe.settings["occlusion_mask"] is False
    assert pipe._s.quality.occluder is None  # type: ignore[union-attr]
    assert np.array_equal(pipe.process(astronaut_bgr), before)  # still swapped, the same look
    pipe.update(pipe.options.with_changes({"blend": 0}))  # and a good update applies
    assert np.array_equal(pipe.process(astronaut_bgr), astronaut_bgr)


def test_mouth_size_widens_the_kept_lips(detector: EmbeddedDetector, source: ClassicalSource, target: Face,
                                         astronaut_bgr: np.ndarray) -> None:
    """keep_mouth at mouth_size 200: a band around the lips (outside the 100 % lip outline, inside
    150 %) is the target's own, byte for byte; at 100 % that band is swapped."""
    from obs_faceswap.vision.embedded import OUTER_LIPS

    lips = _lips(target, astronaut_bgr.shape)
    poly = target.landmarks[OUTER_LIPS].astype(np.float32)  # type: ignore[index]
    centre = poly.mean(0)
    wide = np.zeros(astronaut_bgr.shape[:2], np.uint8)
    cv2.fillPoly(wide, [np.round((poly - centre) * 1.5 + centre).astype(np.int32)], 1)
    band = wide.astype(bool) & ~cv2.dilate(lips.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert band.sum() > 200
    sw = ClassicalSwapper(detector=detector)
    narrow = swap(sw, astronaut_bgr, [target], source, {"keep_mouth": True, "mouth_size": 100})
    assert (narrow[band] != astronaut_bgr[band]).any(-1).mean() > 0.3
    out = swap(sw, astronaut_bgr, [target], source, {"keep_mouth": True, "mouth_size": 200})
    assert np.array_equal(out[band], astronaut_bgr[band])
    assert np.array_equal(out[lips], astronaut_bgr[lips])
