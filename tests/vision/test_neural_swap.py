"""Neural swap path: parity with insightface, identity, paste-back, selection, pipeline behaviour."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import ModelSignatureError, NoFaceError
from obs_faceswap.models.session import create_session
from obs_faceswap.vision import arcface as arcface_mod
from obs_faceswap.vision.arcface import ArcFace, l2_normalize
from obs_faceswap.vision.masks import box_mask
from obs_faceswap.vision.paste import crop_region, paste_back
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.swappers.inswapper import InSwapper
from obs_faceswap.vision.swappers.simswap import SimSwap
from obs_faceswap.vision.types import Face
from tests.standins import face as sf

KPS = np.asarray(sf.ASTRONAUT_KPS, np.float32)
ASTRO_FACE = sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("face_models")
    return SimpleNamespace(
        dir=d,
        inswapper=sf.build_inswapper(d / "inswapper_128.onnx"),
        reswapper256=sf.build_inswapper(d / "reswapper_256.onnx", size=256),
        simswap=sf.build_simswap(d / "simswap_256.onnx"),
        converter=sf.build_embedding_converter(d / "crossface_simswap.onnx"),
        arcface=sf.build_arcface(d / "w600k_r50.onnx"),
        det_astro=sf.build_scrfd(d / "det_astro.onnx", [ASTRO_FACE], (512, 512)),
        det_none=sf.build_scrfd(d / "det_none.onnx", [], (512, 512)),
    )


def _insightface_model(path: Path):  # type: ignore[no-untyped-def]
    import contextlib
    import io

    import insightface

    with contextlib.redirect_stdout(io.StringIO()):
        return insightface.model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])


def _face(kps: np.ndarray = KPS) -> Face:
    return Face(bbox=np.array([*kps.min(0) - 20, *kps.max(0) + 20], np.float32), score=0.9, kps=kps.copy())


@pytest.mark.parametrize("name", ["inswapper", "reswapper256"])
def test_swap_crop_equals_insightface_inswapper(models: SimpleNamespace, astronaut_bgr: np.ndarray, name: str) -> None:
    path = getattr(models, name)
    if name == "inswapper":
        theirs = _insightface_model(path)
        assert type(theirs).__name__ == "INSwapper"  # insightface routed the stand-in by its signature
    else:  # insightface routes only 128 px swappers; its INSwapper class handles 256 all the same
        import contextlib
        import io

        from insightface.model_zoo.inswapper import INSwapper as TheirInSwapper

        with contextlib.redirect_stdout(io.StringIO()):
            theirs = TheirInSwapper(model_file=str(path))
    ours = InSwapper(create_session(path, "cpu"))
    emb = l2_normalize(np.random.default_rng(7).standard_normal(512))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        their_crop, their_m = theirs.get(astronaut_bgr, SimpleNamespace(kps=KPS), SimpleNamespace(normed_embedding=emb),
                                         paste_back=False)
    crop, m = ours.align(astronaut_bgr, _face())
    mine = ours.swap_crop(crop, ours.source_latent(emb))
    assert mine.shape == their_crop.shape == (ours.size, ours.size, 3)
    # same transform -> bit-identical swap (pre-processing, latent, post-processing)
    same_m = ours.swap_crop(cv2.warpAffine(astronaut_bgr, their_m, (ours.size, ours.size), borderValue=0.0),
                            ours.source_latent(emb))
    np.testing.assert_array_equal(same_m, their_crop)
    # our own float64 similarity fit vs skimage's (fed float32 points): transforms agree to 1e-5 px,
    # which flips bilinear rounding on a handful of pixels by one level at most
    # (at 256 ours adds ReSwapper's own half pixel, see test_neural_defects.py; insightface has none)
    expected_m = their_m.copy()
    if ours.size != 128:
        expected_m[:, 2] += 0.5
    np.testing.assert_allclose(m, expected_m, atol=2e-5)
    if ours.size == 128:
        diff = np.abs(mine.astype(int) - their_crop)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    # the swap really depends on the source identity and on the target pixels
    other = ours.swap_crop(crop, ours.source_latent(l2_normalize(np.random.default_rng(8).standard_normal(512))))
    assert np.abs(other.astype(int) - mine).mean() > 3
    assert np.abs(ours.swap_crop(crop[::-1].copy(), ours.source_latent(emb)).astype(int) - mine).mean() > 3


def test_embedding_equals_insightface_arcface(models: SimpleNamespace, astronaut_bgr: np.ndarray) -> None:
    theirs = _insightface_model(models.arcface)
    face = SimpleNamespace(kps=KPS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raw = theirs.get(astronaut_bgr, face)
    ours = ArcFace(create_session(models.arcface, "cpu")).embed(astronaut_bgr, _face())
    np.testing.assert_allclose(ours, raw / np.linalg.norm(raw), atol=1e-5)
    assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5


def test_identity_is_the_normalised_mean_of_several_photos(models: SimpleNamespace, astronaut_bgr: np.ndarray) -> None:
    embedder = ArcFace(create_session(models.arcface, "cpu"))
    second = cv2.convertScaleAbs(astronaut_bgr, alpha=0.8, beta=30)  # same person, other lighting
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE]})
    e1, e2 = embedder.embed(astronaut_bgr, _face()), embedder.embed(second, _face())
    ident = arcface_mod.source_identity([("a", astronaut_bgr), ("b", second)], det.detect, embedder)
    np.testing.assert_allclose(ident, l2_normalize(e1 + e2), atol=1e-6)
    assert not np.allclose(ident, e1, atol=1e-3) and not np.allclose(ident, e2, atol=1e-3)
    with pytest.raises(NoFaceError, match="blank.png"):
        arcface_mod.source_identity([("a", astronaut_bgr), ("blank.png", np.zeros((64, 64, 3), np.uint8))],
                                    det.detect, embedder)


def test_simswap_output_is_a_face_crop_that_depends_on_both_inputs(models: SimpleNamespace,
                                                                   astronaut_bgr: np.ndarray) -> None:
    sim = SimSwap(create_session(models.simswap, "cpu"), create_session(models.converter, "cpu"))
    crop, m = sim.align(astronaut_bgr, _face())
    a = sim.swap_crop(crop, sim.latent_from_raw([np.ones(512, np.float32)]))
    b = sim.swap_crop(crop, sim.latent_from_raw([-np.ones(512, np.float32)]))
    assert a.shape == (256, 256, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 3
    # the stand-in keeps half the target: the de-normalisation round trip brings the crop back
    ref = (crop.astype(np.float32) / 2 + 0.5 * 255 * 0.5)
    assert np.abs(a.astype(np.float32) - ref).mean() < 255 * 0.26


def test_paste_changes_only_the_face_region(astronaut_bgr: np.ndarray) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 384:896] = cv2.resize(astronaut_bgr, (512, 720))
    frame[:, :384] = 200
    kps = (KPS * [1, 720 / 512] + [384, 0]).astype(np.float32)
    crop = np.full((128, 128, 3), (0, 255, 0), np.uint8)
    from obs_faceswap.vision.align import face_transform

    m = face_transform(kps, "arcface_128", 128)
    before = frame.copy()
    paste_back(frame, crop, m, box_mask(128, blur=0.3), 1.0)
    x0, y0, x1, y1 = crop_region(m, 128, frame.shape)
    assert (x1 - x0) * (y1 - y0) < 0.05 * 1280 * 720
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], before[outside])  # byte-identical away from the face
    cx, cy = kps[2].astype(int)
    assert frame[cy, cx, 1] > 200 and frame[cy, cx, 2] < 60  # the nose is now the pasted green
    # blend 0.5 lands halfway, blend 0 changes nothing
    half = before.copy()
    paste_back(half, crop, m, box_mask(128, blur=0.3), 0.5)
    assert abs(int(half[cy, cx, 1]) - (int(before[cy, cx, 1]) + 255) / 2) <= 2
    none = before.copy()
    paste_back(none, crop, m, box_mask(128, blur=0.3), 0.0)
    assert np.array_equal(none, before)


def test_box_mask_is_soft_cached_and_padded() -> None:
    m = box_mask(128, blur=0.3)
    assert m is box_mask(128, blur=0.3)
    assert m[64, 64] == pytest.approx(1.0, abs=1e-3) and m[0, 64] < 0.01 and 0.1 < m[64, 16] < 0.95
    padded = box_mask(128, (0.2, 0.2, 0.2, 0.2), 0.3)
    assert padded[64, 20] < m[64, 20]
    assert not m.flags.writeable


def _settings(models: SimpleNamespace, **kw: object) -> dict:  # type: ignore[type-arg]
    base = {"swapper": str(models.inswapper), "embedder": str(models.arcface), "color_method": "none",
            "detector": str(models.det_astro)}
    base.update(kw)
    return base


def test_pipeline_with_scrfd_file_swaps_the_face_only(models: SimpleNamespace, astronaut_path: Path,
                                                      astronaut_bgr: np.ndarray) -> None:
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path), color_method="lab"))
    out = pipe.process(astronaut_bgr)
    assert pipe.last_error == "" and pipe.stats["faces"] == 1
    assert out.shape == astronaut_bgr.shape and out is not astronaut_bgr
    changed = np.abs(out.astype(int) - astronaut_bgr).sum(2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 2000
    assert xs.min() > 120 and xs.max() < 330 and ys.min() > 10 and ys.max() < 250  # around the face only
    for key in ("detect_ms", "swap_ms", "color_ms", "paste_ms", "total_ms"):
        assert pipe.stats[key] >= 0.0
    assert pipe.stats["providers"] == ["CPUExecutionProvider"]
    # blend 0 shows the original again, without reloading anything
    session = pipe._s.swapper.session  # type: ignore[union-attr]
    pipe.update(pipe.options.with_changes({"blend": 0}))
    assert pipe._s.swapper.session is session  # type: ignore[union-attr]
    assert np.array_equal(pipe.process(astronaut_bgr), astronaut_bgr)


def test_no_face_in_frame_passes_it_through(models: SimpleNamespace, astronaut_path: Path,
                                            astronaut_bgr: np.ndarray) -> None:
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE]})  # finds the source face, none in other frames
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path)), detector=det)
    frame = np.full((480, 640, 3), 77, np.uint8)
    out = pipe.process(frame)
    assert np.array_equal(out, frame) and pipe.stats["faces"] == 0 and pipe.last_error == ""


def test_detector_change_reloads_sources_and_source_without_face_is_refused(
        models: SimpleNamespace, astronaut_path: Path) -> None:
    pipe = FacePipeline.from_settings(_settings(models))  # no source yet: constructs, passes frames through
    frame = np.full((512, 512, 3), 10, np.uint8)
    assert np.array_equal(pipe.process(frame), frame) and "source" in pipe.last_error
    with pytest.raises(NoFaceError, match="astronaut.png"):
        pipe.update(pipe.options.with_changes({"detector": str(models.det_none), "source_image": str(astronaut_path)}))
    with pytest.raises(NoFaceError):
        FacePipeline.from_settings(_settings(models, detector=str(models.det_none), source_image=str(astronaut_path)))


def test_wrong_swapper_file_names_the_expected_io(models: SimpleNamespace, astronaut_path: Path) -> None:
    with pytest.raises(ModelSignatureError, match="target"):
        FacePipeline.from_settings(_settings(models, swapper=str(models.arcface), source_image=str(astronaut_path)))


def test_simswap_file_is_routed_by_signature(models: SimpleNamespace, astronaut_path: Path,
                                             astronaut_bgr: np.ndarray) -> None:
    pipe = FacePipeline.from_settings(_settings(models, swapper=str(models.simswap), source_image=str(astronaut_path)))
    assert isinstance(pipe._s.swapper.model, SimSwap)  # type: ignore[union-attr]
    out = pipe.process(astronaut_bgr)
    assert pipe.stats["faces"] == 1 and np.abs(out.astype(int) - astronaut_bgr).sum() > 0


@pytest.fixture(scope="module")
def two_faces(astronaut_bgr: np.ndarray) -> tuple[np.ndarray, list[sf.PlacedFace]]:
    """The astronaut twice side by side, the right one smaller."""
    frame = np.full((512, 1024, 3), 128, np.uint8)
    frame[:, :512] = astronaut_bgr
    small = cv2.resize(astronaut_bgr, (384, 384))
    frame[64:448, 576:960] = small
    right_kps = KPS * 0.75 + [576, 64]
    right_box = np.asarray(sf.ASTRONAUT_BOX).reshape(2, 2) * 0.75 + [576, 64]
    return frame, [ASTRO_FACE, sf.PlacedFace(tuple(right_box.reshape(-1)), [tuple(p) for p in right_kps])]


def _changed_sides(before: np.ndarray, after: np.ndarray) -> tuple[bool, bool]:
    diff = np.abs(after.astype(int) - before).sum(2) > 0
    return bool(diff[:, :512].any()), bool(diff[:, 512:].any())


@pytest.mark.parametrize(("selection", "extra", "expected"), [
    ("all", {}, (True, True)),
    ("largest", {}, (True, False)),
    ("index", {"face_index": 1}, (False, True)),
    ("index", {"face_index": 5}, (False, False)),
])
def test_face_selection(models: SimpleNamespace, astronaut_path: Path, two_faces, selection, extra,  # type: ignore[no-untyped-def]
                        expected) -> None:
    frame, placed = two_faces
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE], frame.shape[:2]: placed})
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path), face_selection=selection, **extra),
                        detector=det)
    out = pipe.process(frame)
    assert _changed_sides(frame, out) == expected


def test_reference_selection_swaps_only_the_matching_person(models: SimpleNamespace, astronaut_path: Path,
                                                            group_bgr: np.ndarray, tmp_path: Path,
                                                            astronaut_bgr: np.ndarray) -> None:
    frame = np.full((512, 1024, 3), 128, np.uint8)
    frame[:, :512] = astronaut_bgr
    other = cv2.resize(group_bgr[100:612, 300:812], (512, 512))  # some other photo in the same place
    frame[:, 512:] = other
    right = sf.PlacedFace(tuple(np.add(sf.ASTRONAUT_BOX, [512, 0, 512, 0])), [(x + 512, y) for x, y in sf.ASTRONAUT_KPS])
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE], frame.shape[:2]: [ASTRO_FACE, right]})
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path), face_selection="reference",
                                  reference_image=str(astronaut_path), reference_threshold=0.1), detector=det)
    assert _changed_sides(frame, pipe.process(frame)) == (True, False)
    ref = tmp_path / "other.png"
    cv2.imwrite(str(ref), other)
    pipe.update(pipe.options.with_changes({"reference_image": str(ref)}))
    assert _changed_sides(frame, pipe.process(frame)) == (False, True)


def test_embedded_detector_on_group_photo_swaps_many_faces(models: SimpleNamespace, astronaut_path: Path,
                                                           group_bgr: np.ndarray) -> None:
    pipe = FacePipeline.from_settings(_settings(models, detector="embedded", source_image=str(astronaut_path),
                                  face_selection="all"))
    out = pipe.process(group_bgr)
    assert pipe.last_error == ""
    assert pipe.stats["faces"] >= 5
    changed = np.abs(out.astype(int) - group_bgr).sum(2) > 0
    assert 0.01 < changed.mean() < 0.5


def test_live_mode_tracks_and_bgra_keeps_alpha(models: SimpleNamespace, astronaut_path: Path,
                                               astronaut_bgr: np.ndarray) -> None:
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE]})
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path), detect_every=3), live=True, detector=det)
    assert type(pipe._s.detector).__name__ == "TrackedDetector"
    bgra = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 123
    outs = [pipe.process(bgra) for _ in range(3)]
    for out in outs:
        assert out.shape == bgra.shape and (out[..., 3] == 123).all()
        assert np.abs(out[..., :3].astype(int) - astronaut_bgr).sum() > 0
    tracked, base = pipe._s.detector, pipe._s.base_detector
    pipe.update(pipe.options.with_changes({"detect_every": 5}))  # re-wraps the same detector, no model reload
    assert pipe._s.base_detector is base and pipe._s.detector is not tracked
    assert pipe._s.detector.detect_every == 5  # type: ignore[union-attr]


def test_failed_update_keeps_the_working_pipeline(models: SimpleNamespace, astronaut_path: Path,
                                                  astronaut_bgr: np.ndarray) -> None:
    pipe = FacePipeline.from_settings(_settings(models, source_image=str(astronaut_path)))
    before = pipe.process(astronaut_bgr)
    with pytest.raises(NoFaceError):  # the stand-in detector finds a face; the detector change does not
        pipe.update(pipe.options.with_changes({"swapper": str(models.simswap), "detector": str(models.det_none)}))
    assert pipe.settings["swapper"] == str(models.inswapper)
    assert np.array_equal(pipe.process(astronaut_bgr), before)


def test_a_non_onnx_model_file_is_one_model_error(models: SimpleNamespace, astronaut_path: Path,
                                                  tmp_path: Path) -> None:
    """--swapper/--detector/--embedder FILE that is not ONNX: ModelError with the user-file advice,
    never protobuf's DecodeError; a manifest model's corrupt file says to download it again."""
    from obs_faceswap.errors import ModelError
    from obs_faceswap.models.session import invalid_model_error
    from obs_faceswap.vision.swappers.inswapper import read_emap

    cut = tmp_path / "cut.onnx"
    cut.write_bytes(Path(models.inswapper).read_bytes()[:30000])
    with pytest.raises(ModelError, match="corrupt or not an ONNX model") as info:
        read_emap(cut)
    assert not isinstance(info.value, ModelSignatureError) and "export it to ONNX again" in str(info.value)
    for key in ("swapper", "detector", "embedder"):
        settings = {"source_image": str(astronaut_path), "swapper": str(models.inswapper),
                    "detector": str(models.det_astro), "embedder": str(models.arcface), key: str(cut)}
        with pytest.raises(ModelError, match=f"cannot load model {cut}: it is corrupt") as info:
            FacePipeline.from_settings(settings)
        assert "models download" not in str(info.value)
    assert "download it again" in str(invalid_model_error(cut, ValueError("bad"), user_file=False))


def test_provider_note_names_where_the_models_ran() -> None:
    from obs_faceswap.vision.pipeline_build import provider_note

    assert provider_note("cuda", ["CPUExecutionProvider"]) == "note: CUDA is not available here; ran on CPU"
    assert provider_note("tensorrt", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        "note: TensorRT is not available here; ran on CUDA, CPU"
    assert provider_note("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ""
    assert provider_note("auto", ["CPUExecutionProvider"]) == provider_note("cpu", ["CPUExecutionProvider"]) == ""
