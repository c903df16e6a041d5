"""DeepFaceLive DFM models: DeepFaceLab's alignment, the model's I/O, the merge, import."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.models.standins.dfm import CELEB_MASK_RADIUS, build_dfm
from obs_faceswap.vision import face_types as ft
from obs_faceswap.vision.align import estimate_similarity, transform_points
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.swappers.dfm import DfmSwapper
from tests.standins import face as sf


def _synthetic_68(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """68 landmarks whose 25 alignment points are exactly the uniform mean face under a similarity."""
    a = np.radians(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = np.zeros((68, 2))
    pts[ft.IBUG_25] = ft.UNI_LANDMARKS_25 @ rot.T + shift
    nose_x = ft.UNI_LANDMARKS_25[list(ft.IBUG_25).index(30), 0]
    for i, x in ((0, nose_x - 0.5), (16, nose_x + 0.5)):  # jaw ends around the nose tip: a frontal face
        pts[i] = np.array([x, 0.45]) @ rot.T + shift
    return pts


@pytest.mark.parametrize(("face_type", "coverage"), [("face", 1.6), ("whole_face", 2.2), ("head", 3.0)])
@pytest.mark.parametrize("size", [224, 320])
def test_cut_matches_deepfacelabs_constants(face_type: str, coverage: float, size: int) -> None:
    """A mean-face point u lands at ((u - centre) / coverage + 0.5) * size, the centre being the
    uniform square's centre moved 0.08 up: DeepFaceLive's calc_cut with its aligner's y offset."""
    assert ft.FACE_TYPES[face_type].coverage == coverage and ft.FACE_TYPES[face_type].y_offset == -0.08
    lm = _synthetic_68(300.0, 17.0, (400.0, 250.0))
    m = ft.face_type_transform(lm, face_type, size)
    got = transform_points(lm[ft.IBUG_25], m)
    centre = np.array([0.5, 0.5 - 0.08])
    want = ((ft.UNI_LANDMARKS_25 - centre) / coverage + 0.5) * size
    np.testing.assert_allclose(got, want, atol=1e-6 * size)
    # a similarity: rotation follows the face, no shear
    a = m[:, :2]
    assert np.allclose(a @ a.T, np.eye(2) * np.linalg.det(a), atol=1e-9)


def test_head_type_shifts_toward_the_back_of_a_turned_head() -> None:
    lm = _synthetic_68(300.0, 0.0, (400.0, 250.0))
    lm[30, 0] += 60.0  # the nose tip moves image-right: the head turned, its back shows on the left
    yaw = ft.estimate_yaw(lm)
    assert yaw > 0.3
    plain = ft.face_type_transform(lm, "head", 224, head_yaw=0.0)
    head = ft.face_type_transform(lm, "head", 224)
    shift = -(yaw * abs(np.tanh(2 * yaw))) * 0.5  # in sides of the fitted uniform square
    inv_plain = np.linalg.inv(np.vstack([plain, [0, 0, 1]]))[:2]
    centre_plain = transform_points([[112, 112]], inv_plain)
    centre_head = transform_points([[112, 112]], np.linalg.inv(np.vstack([head, [0, 0, 1]]))[:2])
    side = inv_plain[:, 0] * 224 / 3.0  # the uniform square's x side in the frame (crop side / coverage)
    np.testing.assert_allclose(centre_head - centre_plain, [shift * side], atol=1e-6)
    assert (centre_head - centre_plain)[0, 0] < -20  # toward the image-left


def test_68_points_from_the_embedded_mesh_sit_on_the_face(astronaut_bgr: np.ndarray) -> None:
    face = EmbeddedDetector(provider="cpu").detect(astronaut_bgr)[0]
    lm = ft.landmarks68(face.landmarks)
    np.testing.assert_array_equal(ft.alignment_points(face.landmarks), lm[ft.IBUG_25])
    kps = np.asarray(sf.ASTRONAUT_KPS)
    eye_dist = float(np.linalg.norm(kps[1] - kps[0]))
    checks = {(36, 39): kps[0], (42, 45): kps[1], (30,): kps[2], (48,): kps[3], (54,): kps[4]}
    for idx, where in checks.items():
        assert np.linalg.norm(lm[list(idx)].mean(0) - where) < 0.25 * eye_dist, idx
    assert lm[8, 1] > lm[57, 1] > lm[33, 1] > lm[27, 1] > lm[19, 1]  # chin, lip, nose, bridge, brow downwards
    with pytest.raises(ValueError, match="468"):
        ft.landmarks68(np.zeros((5, 2)))


# ---------------------------------------------------------------- the swapper


@pytest.fixture(scope="module")
def dfms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("dfm")
    return {"plain": build_dfm(d / "celeb.dfm", 224), "amp": build_dfm(d / "amp_celeb.dfm", 320, amp=True)}


def _centre_px(swapper: DfmSwapper, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixels well inside the celeb mask (crop centre +- 0.2 size), as integer (x, y)."""
    face = EmbeddedDetector(provider="cpu").detect(frame)[0]
    m = ft.face_type_transform(face.landmarks, "whole_face", swapper.size)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    g = np.linspace(0.32, 0.68, 9) * swapper.size
    pts = transform_points(np.stack(np.meshgrid(g, g), -1).reshape(-1, 2), inv)
    return np.round(pts).astype(int).T


def test_dfm_pipeline_needs_no_source_photo_and_pastes_the_celeb(dfms: dict[str, Path],
                                                                astronaut_bgr: np.ndarray) -> None:
    pipe = FacePipeline.from_settings({"swapper": "dfm", "dfm_model": str(dfms["plain"]), "color_method": "none",
                                       "detector": "embedded"})
    out = pipe.process(astronaut_bgr)
    assert pipe.last_error == "" and pipe.stats["faces"] == 1
    swapper = pipe._s.swapper
    assert isinstance(swapper, DfmSwapper) and swapper.size == 224 and not swapper.amp
    xs, ys = _centre_px(swapper, astronaut_bgr)
    # the stand-in's celeb is the crop inverted: inside both masks the frame shows 255 - original
    inverted = np.abs(out[ys, xs].astype(int) + astronaut_bgr[ys, xs] - 255).mean()
    assert inverted < 12, inverted
    changed = np.abs(out.astype(int) - astronaut_bgr).sum(2) > 30
    ys_c, xs_c = np.nonzero(changed)
    assert 150 < xs_c.mean() < 300 and 60 < ys_c.mean() < 200  # around the face only
    assert changed[:40].sum() == 0 and changed[:, :100].sum() == 0


def test_dfm_record_merges_celeb_and_face_masks_with_rct(dfms: dict[str, Path], astronaut_bgr: np.ndarray) -> None:
    swapper = DfmSwapper(str(dfms["plain"]), "cpu")
    face = EmbeddedDetector(provider="cpu").detect(astronaut_bgr)[0]
    record = swapper.swap_face(astronaut_bgr, face, None, FaceOptions.from_settings({}))
    assert record is not None and record.colour.method == "rct"
    mask = record.masks["dfm"]
    size = swapper.size
    # inside the smaller (celeb) disc, eroded and blurred: 1 at the centre, 0 beyond the disc
    assert mask[size // 2, size // 2] > 0.99
    assert mask[size // 2, int(size * (0.5 + CELEB_MASK_RADIUS)) + 25] < 0.05  # disc edge + the 25 px blur
    assert mask[0].max() < 0.01 and mask[:, -1].max() < 0.01  # faded to the border
    # mask_blur widens the edge; mask_padding erodes more
    soft = swapper.swap_face(astronaut_bgr, face, None, FaceOptions.from_settings({"mask_blur": 90})).masks["dfm"]
    tight = swapper.swap_face(astronaut_bgr, face, None, FaceOptions.from_settings({"mask_padding": 10})).masks["dfm"]
    edge = (mask > 0.05) & (mask < 0.95)
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 1.3 * edge.sum()
    assert tight.sum() < 0.85 * mask.sum()


def test_amp_morph_value_reaches_the_model(dfms: dict[str, Path], astronaut_bgr: np.ndarray) -> None:
    base = {"swapper": "dfm", "dfm_model": str(dfms["amp"]), "color_method": "none", "detector": "embedded"}
    pipe = FacePipeline.from_settings({**base, "dfm_morph": 0})
    assert pipe._s.swapper.amp and pipe._s.swapper.size == 320  # type: ignore[union-attr]
    xs, ys = _centre_px(pipe._s.swapper, astronaut_bgr)  # type: ignore[arg-type]
    none = np.abs(pipe.process(astronaut_bgr)[ys, xs].astype(int) - astronaut_bgr[ys, xs]).mean()
    pipe.update(pipe.options.with_changes({"dfm_morph": 100}))
    full = np.abs(pipe.process(astronaut_bgr)[ys, xs].astype(int) + astronaut_bgr[ys, xs] - 255).mean()
    assert none < 6 and full < 12, (none, full)


def test_wrong_or_missing_dfm_is_one_clear_error(tmp_path: Path, astronaut_path: Path) -> None:
    with pytest.raises(ModelError, match="dfm_model"):
        FacePipeline.from_settings({"swapper": "dfm", "detector": "embedded"})
    with pytest.raises(ModelError, match="not found"):
        FacePipeline.from_settings({"swapper": "dfm", "dfm_model": "nobody", "detector": "embedded"})
    not_dfm = sf.build_inswapper(tmp_path / "inswapper.onnx")
    with pytest.raises(ModelSignatureError, match="in_face:0"):
        FacePipeline.from_settings({"swapper": "dfm", "dfm_model": str(not_dfm), "detector": "embedded"})


def test_models_import_dfm_then_use_it_by_name(dfms: dict[str, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, astronaut_bgr: np.ndarray) -> None:
    from obs_faceswap.models.dfm_import import import_dfm

    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path / "models"))
    out = io.StringIO()
    dest = import_dfm(dfms["plain"], out=out)
    assert dest == tmp_path / "models" / "dfm" / "celeb.dfm" and "--dfm-model celeb" in out.getvalue()
    pipe = FacePipeline.from_settings({"swapper": "dfm", "dfm_model": "celeb", "detector": "embedded"})
    assert pipe._s.swapper.name == "celeb"  # type: ignore[union-attr]
    assert np.abs(pipe.process(astronaut_bgr).astype(int) - astronaut_bgr).sum() > 0
    bad = tmp_path / "photo.dfm"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="photo.dfm"):
        import_dfm(bad)
    assert not (tmp_path / "models" / "dfm" / "photo.dfm").exists()
    wrong = sf.build_arcface(tmp_path / "arcface.dfm")
    with pytest.raises(ModelError, match="not a DeepFaceLive DFM model"):
        import_dfm(wrong)


def test_estimate_similarity_is_the_umeyama_fit_dfl_uses() -> None:
    """DeepFaceLive fits with umeyama (rotation, uniform scale, translation): our shared fit is that."""
    lm = _synthetic_68(123.0, -30.0, (50.0, 80.0))
    m = estimate_similarity(lm[ft.IBUG_25], ft.UNI_LANDMARKS_25)
    np.testing.assert_allclose(transform_points(lm[ft.IBUG_25], m), ft.UNI_LANDMARKS_25, atol=1e-9)
