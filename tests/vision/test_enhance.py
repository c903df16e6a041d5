"""Face enhancers through the real loading and pre/post code, with stand-in GFPGAN/CodeFormer/GPEN models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import TensorProto

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.vision.align import face_transform, invert
from obs_faceswap.vision.enhance import PASTE_BLUR, PASTE_PADDING, load_enhancer
from obs_faceswap.vision.masks import box_mask
from tests.standins import quality as standins

# the astronaut's 5 key points (skimage.data.astronaut, 512x512): eyes, nose, mouth corners
ASTRONAUT_KPS = np.array([[203, 100], [246, 103], [225, 127], [206, 143], [243, 145]], np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return standins.all_models(tmp_path_factory.mktemp("quality_models"))


def aligned_face(img: np.ndarray, size: int = 512) -> np.ndarray:
    m = face_transform(ASTRONAUT_KPS, "ffhq_512", size)
    return cv2.warpAffine(img, m, (size, size), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("model_id", ["gfpgan_1.4", "gpen_512"])
def test_run_applies_the_models_normalisation_and_channel_order(models, astronaut_bgr, model_id: str) -> None:
    enh = load_enhancer(str(models[model_id]), "cpu", family="gfpgan" if model_id.startswith("gfpgan") else "gpen")
    aligned = aligned_face(astronaut_bgr)
    out = enh.run(aligned)
    expected = standins.enhancer_expected(aligned)
    assert out.dtype == np.uint8 and out.shape == aligned.shape
    assert np.abs(out.astype(np.float32) - expected).max() <= 1.0


def test_codeformer_gets_fidelity_as_float64_weight(models, astronaut_bgr) -> None:
    aligned = aligned_face(astronaut_bgr)
    for fidelity in (0.3, 1.0):
        enh = load_enhancer(str(models["codeformer"]), "cpu", family="codeformer", fidelity=fidelity)
        out = enh.run(aligned)
        assert np.abs(out.astype(np.float32) - standins.enhancer_expected(aligned, weight=fidelity)).max() <= 1.0


def test_gpen_size_comes_from_the_file(tmp_path, astronaut_bgr) -> None:
    enh = load_enhancer(str(standins.gpen(tmp_path / "gpen_bfr_256.onnx", size=256)), "cpu", family="gpen")
    assert enh.size == 256
    out = enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 1.0)
    assert not np.array_equal(out, astronaut_bgr)


def test_blend_zero_is_unchanged(models, astronaut_bgr) -> None:
    enh = load_enhancer(str(models["gfpgan_1.4"]), "cpu", family="gfpgan")
    img = astronaut_bgr.copy()
    assert enh.enhance(img, ASTRONAUT_KPS, 0.0) is img
    assert np.array_equal(img, astronaut_bgr)
    assert enh.model_runs == 0


def test_blend_full_repastes_the_model_output(models, astronaut_bgr) -> None:
    """At 100 % the face region is the model's output warped back; outside it nothing changes."""
    enh = load_enhancer(str(models["gfpgan_1.4"]), "cpu", family="gfpgan")
    out = enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 1.0)
    m = face_transform(ASTRONAUT_KPS, "ffhq_512", 512)
    mask = cv2.warpAffine(box_mask(512, PASTE_PADDING, PASTE_BLUR), invert(m), (512, 512))
    full = cv2.erode((mask >= 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    outside = mask == 0.0
    assert full.sum() > 5000 and outside.sum() > 100000
    # the stand-in is pixel-wise, so warping to the template and back commutes with it (up to resampling)
    expected = standins.enhancer_expected(astronaut_bgr)
    err = np.abs(out[full].astype(np.float32) - expected[full])
    assert np.median(err) <= 2.0 and err.mean() < 4.0
    assert np.array_equal(out[outside], astronaut_bgr[outside])


def test_half_blend_is_halfway(models, astronaut_bgr) -> None:
    enh = load_enhancer(str(models["gfpgan_1.4"]), "cpu", family="gfpgan")
    full = enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 1.0).astype(np.float32)
    half = enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 0.5).astype(np.float32)
    assert np.abs(half - (full + astronaut_bgr) / 2.0).max() <= 1.5


def test_every_kth_frame_reuses_the_last_restoration(models, astronaut_bgr) -> None:
    enh = load_enhancer(str(models["gfpgan_1.4"]), "cpu", family="gfpgan", every=3)
    key = (225.0, 120.0)
    outs = [enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 1.0, key=key) for _ in range(6)]
    assert enh.model_runs == 2
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])  # same input: the reused residual reproduces the restoration
    # a second face elsewhere gets its own restoration
    enh.enhance(astronaut_bgr, ASTRONAUT_KPS, 1.0, key=(400.0, 400.0))
    assert enh.model_runs == 3


def test_wrong_signature_is_refused_clearly(models, tmp_path) -> None:
    with pytest.raises(ModelSignatureError, match="weight float64"):
        load_enhancer(str(models["gfpgan_1.4"]), "cpu", family="codeformer")
    bad = standins.codeformer(tmp_path / "cf32.onnx", weight_dtype=TensorProto.FLOAT)
    with pytest.raises(ModelSignatureError, match="not a codeformer model"):
        load_enhancer(str(bad), "cpu", family="codeformer")


def test_missing_model_says_how_to_get_it(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="models download gfpgan_1.4"):
        load_enhancer("gfpgan_1.4", "cpu")
