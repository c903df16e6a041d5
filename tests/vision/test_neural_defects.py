"""What real weights would have broken: SimSwap's identity space and 512 variant, the enhancer's
resolution, ReSwapper-256's half-pixel template (issue 13's defects; each test failed before the fix)."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from obs_faceswap.errors import ModelError
from obs_faceswap.models.session import create_session
from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save
from obs_faceswap.vision.align import TEMPLATES, template_points, transform_points
from obs_faceswap.vision.arcface import l2_normalize
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.swappers.inswapper import InSwapper
from obs_faceswap.vision.swappers.simswap import SimSwap
from obs_faceswap.vision.types import Face
from tests.standins import face as sf

KPS = np.asarray(sf.ASTRONAUT_KPS, np.float32)
ASTRO_FACE = sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)
# insightface / ReSwapper arcface_dst (published template, 112 px)
ARCFACE_DST = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                        [70.7299, 92.2041]], np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("defect_models")
    lone = tmp_path_factory.mktemp("lone_simswap")
    return SimpleNamespace(
        simswap=sf.build_simswap(d / "simswap_256.onnx"),
        simswap512=sf.build_simswap(d / "simswap_unofficial_512.onnx", size=512),
        converter=sf.build_embedding_converter(d / "crossface_simswap.onnx"),
        lone_simswap=sf.build_simswap(lone / "simswap_256.onnx"),
        inswapper=sf.build_inswapper(d / "inswapper_128.onnx"),
        reswapper256=sf.build_inswapper(d / "reswapper_256.onnx", size=256),
        arcface=sf.build_arcface(d / "w600k_r50.onnx"),
        det_astro=sf.build_scrfd(d / "det_astro.onnx", [ASTRO_FACE], (512, 512)),
    )


def _face(kps: np.ndarray = KPS) -> Face:
    return Face(bbox=np.array([*kps.min(0) - 20, *kps.max(0) + 20], np.float32), score=0.9, kps=kps.copy())


# ------------------------------------------------------------------ 1. SimSwap identity space


def test_simswap_source_is_the_converted_raw_embedding(models: SimpleNamespace, astronaut_path: Path,
                                                       astronaut_bgr: np.ndarray) -> None:
    """facefusion's chain: insightface's raw w600k_r50 embedding -> crossface_simswap -> L2."""
    import insightface

    with contextlib.redirect_stdout(io.StringIO()):
        theirs = insightface.model_zoo.get_model(str(models.arcface), providers=["CPUExecutionProvider"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        raw = theirs.get(astronaut_bgr, SimpleNamespace(kps=KPS))  # insightface: face.embedding (not normed)
    conv = ort.InferenceSession(str(models.converter), providers=["CPUExecutionProvider"])
    expected = l2_normalize(conv.run(None, {"input": raw.reshape(1, 512).astype(np.float32)})[0])

    pipe = FacePipeline.from_settings({"swapper": str(models.simswap), "embedder": str(models.arcface),
                                       "detector": str(models.det_astro), "source_image": str(astronaut_path)})
    latent = pipe._s.source.value  # type: ignore[union-attr]
    np.testing.assert_allclose(np.asarray(latent).reshape(-1), expected, atol=1e-5)
    # what the old code fed: w600k_r50's own normalised embedding, a different direction entirely
    assert float(np.dot(expected, l2_normalize(raw))) < 0.9
    assert np.abs(pipe.process(astronaut_bgr).astype(int) - astronaut_bgr).sum() > 0


def test_simswap_without_its_converter_says_how_to_get_it(models: SimpleNamespace, astronaut_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match=r"identity converter.*crossface_simswap"):
        FacePipeline.from_settings({"swapper": str(models.lone_simswap), "embedder": str(models.arcface),
                                    "detector": str(models.det_astro), "source_image": str(astronaut_path)})


# ------------------------------------------------------------------ 3. SimSwap-512 routing


@pytest.mark.parametrize(("name", "size"), [("simswap", 256), ("simswap512", 512)])
def test_simswap_variant_is_routed_by_input_size(models: SimpleNamespace, astronaut_bgr: np.ndarray,
                                                 name: str, size: int) -> None:
    """256: ImageNet mean/std; 512 (unofficial): mean 0 / std 1. The stand-ins compute
    0.5 * (crop in [0, 1]) + 0.5 * pattern only when fed their own normalisation."""
    sim = SimSwap(create_session(getattr(models, name), "cpu"), create_session(models.converter, "cpu"))
    assert sim.size == size
    crop, m = sim.align(astronaut_bgr, _face())
    assert crop.shape == (size, size, 3)
    np.testing.assert_allclose(transform_points(KPS, m), template_points("arcface_112_v1", size), atol=size * 0.025)
    latent = sim.latent_from_raw([np.random.default_rng(1).standard_normal(512).astype(np.float32)])
    out = sim.swap_crop(crop, latent).astype(np.float32)
    pattern_only = sim.swap_crop(np.zeros_like(crop), latent).astype(np.float32)
    np.testing.assert_allclose(out - pattern_only, crop.astype(np.float32) / 2, atol=1.5)


# ------------------------------------------------------------------ 2. enhancer at its own resolution


def _detail_enhancer(path: Path) -> Path:
    """GFPGAN signature; adds an 8 px checker pattern (+-0.5 in its [-1, 1] range) to the face: detail
    that a 512 px restoration has and a 128 px swap crop cannot hold."""
    tile = np.kron([[1, -1], [-1, 1]], np.ones((4, 4))).astype(np.float32).reshape(1, 1, 8, 8) * 0.5
    g = helper.make_graph(
        [helper.make_node("Tile", ["tile", "reps"], ["pattern"]),
         helper.make_node("Add", ["input", "pattern"], ["output"])],
        "detail_enhancer",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 512, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])],
        [_init("tile", tile), _init("reps", np.array([1, 3, 64, 64], np.int64))],
    )
    return _save(g, path)


def test_enhancer_detail_survives_on_a_large_face(models: SimpleNamespace, astronaut_path: Path,
                                                  astronaut_bgr: np.ndarray, tmp_path: Path) -> None:
    frame = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC)  # a 190 px face
    big = sf.PlacedFace(tuple(np.asarray(sf.ASTRONAUT_BOX) * 2), [tuple(p) for p in KPS * 2])
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE], (1024, 1024): [big]})
    enhancer = _detail_enhancer(tmp_path / "gfpgan.onnx")
    base = {"swapper": str(models.inswapper), "embedder": str(models.arcface), "color_method": "none",
            "source_image": str(astronaut_path), "enhancer_blend": 100}
    plain = FacePipeline.from_settings(base, detector=det).process(frame)
    enhanced = FacePipeline.from_settings({**base, "enhancer": "gfpgan_1.4"}, detector=det,
                                          quality_models={"gfpgan_1.4": enhancer}).process(frame)
    diff = enhanced.astype(np.float32).mean(2) - plain.astype(np.float32).mean(2)
    x0, y0, x1, y1 = (int(v) for v in np.asarray(sf.ASTRONAUT_BOX) * 2)
    region = diff[y0 + 30:y1 - 30, x0 + 30:x1 - 30]
    # the checker reaches the frame at ~5.6 px period: strong pixel-to-pixel contrast in the face
    detail = float(np.abs(region - cv2.GaussianBlur(region, (0, 0), 3.0)).mean())
    assert detail > 30.0, detail  # measured 48.5; enhanced inside the 128 px swap crop: 15.6


# ------------------------------------------------------------------ 6. ReSwapper-256 half pixel


def test_reswapper_256_template_has_reswappers_half_pixel() -> None:
    """ReSwapper's estimate_norm at 256: arcface_dst * 2, +16 px in x, then + (128/32768*256 - 0.5) = +0.5."""
    expected = ARCFACE_DST.astype(np.float64) * 2 + [16.0, 0.0] + 0.5
    np.testing.assert_allclose(template_points("arcface_128", 256, native=128), expected, atol=1e-4)
    np.testing.assert_allclose(template_points("arcface_128", 128, native=128), TEMPLATES["arcface_128"] * 128)


def test_reswapper_256_crop_is_aligned_like_reswapper(models: SimpleNamespace, astronaut_bgr: np.ndarray) -> None:
    from skimage.transform import SimilarityTransform

    dst = ARCFACE_DST * 2 + np.float32([16.5, 0.5])
    tform = SimilarityTransform.from_estimate(KPS, dst)
    ours = InSwapper(create_session(models.reswapper256, "cpu"))
    crop, m = ours.align(astronaut_bgr, _face())
    np.testing.assert_allclose(m, tform.params[:2], atol=2e-5)
    # insightface's INSwapper at 256 has no half pixel: the crops differ by that shift
    inswapper = InSwapper(create_session(models.inswapper, "cpu"))
    _, m128 = inswapper.align(astronaut_bgr, _face())
    np.testing.assert_allclose(transform_points(KPS, m128), TEMPLATES["arcface_128"] * 128, atol=2.0)
