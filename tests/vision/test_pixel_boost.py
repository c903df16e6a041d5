"""Pixel boost: a 128 px swapper at 256/384/512 by polyphase sub-images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.models.session import create_session
from obs_faceswap.vision import pixel_boost
from obs_faceswap.vision.align import face_transform
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.swappers.inswapper import InSwapper
from obs_faceswap.vision.swappers.neural import NeuralSwapper
from obs_faceswap.vision.types import Face
from tests.standins import face as sf

KPS2 = np.asarray(sf.ASTRONAUT_KPS, np.float32) * 2  # the astronaut at 1024 px: a 190 px face


@pytest.fixture(scope="module")
def frame(astronaut_bgr: np.ndarray) -> np.ndarray:
    """The astronaut at 1024 px (a 190 px face) with a fine 2-3 px grain, like skin texture in a sharp
    close-up (the upscaled photo alone has no detail finer than its 512 px original)."""
    big = cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    grain = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 24, (1024, 1024)).astype(np.float32), (0, 0), 0.8)
    return np.clip(big + grain[..., None], 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def swapper(tmp_path_factory: pytest.TempPathFactory) -> NeuralSwapper:
    path = sf.build_inswapper(tmp_path_factory.mktemp("pb") / "inswapper_128.onnx")
    return NeuralSwapper(InSwapper(create_session(path, "cpu")), "inswapper_128")


def _face() -> Face:
    return Face(bbox=np.array([*KPS2.min(0) - 40, *KPS2.max(0) + 40], np.float32), score=0.9, kps=KPS2.copy())


@pytest.mark.parametrize("k", [2, 3, 4])
def test_split_join_round_trip(k: int) -> None:
    img = np.random.default_rng(k).integers(0, 256, (128 * k, 128 * k, 3), dtype=np.uint8)
    parts = pixel_boost.split(img, k)
    assert len(parts) == k * k and all(p.shape == (128, 128, 3) for p in parts)
    np.testing.assert_array_equal(pixel_boost.join(parts, k), img)
    with pytest.raises(ValueError, match="does not split"):
        pixel_boost.split(img[:-1], k)


@pytest.mark.parametrize("k", [2, 4])
def test_sub_images_are_aligned_native_crops_centred_on_the_template(frame: np.ndarray, k: int) -> None:
    """Sub-image (i, j) is the face warped at 128 px on a grid shifted by (j, i)/k native pixels; the
    k² shifted transforms average exactly to the native arcface_128 transform."""
    big_m = face_transform(KPS2, "arcface_128", 128 * k, native=128)
    crop = cv2.warpAffine(frame, big_m, (128 * k, 128 * k))
    subs = []
    for idx, part in enumerate(pixel_boost.split(crop, k)):
        i, j = divmod(idx, k)
        sub_m = np.vstack([big_m[0] / k, big_m[1] / k])
        sub_m[:, 2] = (big_m[:, 2] - [j, i]) / k
        subs.append(sub_m)
        direct = cv2.warpAffine(frame, sub_m, (128, 128))
        diff = np.abs(direct.astype(int) - part)  # bilinear's 1/32 px fixed point: a few levels at most
        assert diff.max() <= 4 and diff.mean() < 0.5
    np.testing.assert_allclose(np.mean(subs, axis=0), face_transform(KPS2, "arcface_128", 128), atol=1e-6)


def test_factor_rounds_to_the_models_size() -> None:
    assert [pixel_boost.factor(b, 128) for b in (128, 256, 300, 384, 512)] == [1, 2, 2, 3, 4]
    assert pixel_boost.factor(256, 256) == 1 and pixel_boost.factor(512, 256) == 2


@pytest.mark.parametrize("boost", [256, 384, 512])
def test_boosted_swap_runs_k2_passes_and_keeps_the_targets_detail(swapper: NeuralSwapper, frame: np.ndarray,
                                                                 boost: int, monkeypatch: pytest.MonkeyPatch) -> None:
    latent = swapper.model.source_latent(np.random.default_rng(3).standard_normal(512).astype(np.float32))
    native = swapper.swap_face(frame, _face(), latent, FaceOptions.from_settings({}))
    calls: list[int] = []
    run = swapper.model.session.run
    monkeypatch.setattr(swapper.model.session, "run", lambda feeds, *a: calls.append(1) or run(feeds, *a))
    record = swapper.swap_face(frame, _face(), latent, FaceOptions.from_settings({"pixel_boost": boost}))
    k = boost // 128
    assert len(calls) == k * k
    assert record.crop.shape == record.swapped.shape == (boost, boost, 3)
    assert record.masks["box"].shape == (boost, boost)
    # the stand-in's output is 0.5 * target + 0.5 * a smooth identity pattern: at 'boost' px its fine
    # detail must be half the target crop's own detail, which a 128 px swap scaled up cannot have
    upscaled = cv2.resize(native.swapped, (boost, boost), interpolation=cv2.INTER_CUBIC)
    ours, scaled = _detail_error(record.swapped, record.crop), _detail_error(upscaled, record.crop)
    assert ours < 0.25 and scaled > 2 * ours, (ours, scaled)


def _highpass(img: np.ndarray) -> np.ndarray:
    g = img.astype(np.float32).mean(2) if img.ndim == 3 else img.astype(np.float32)
    return g - cv2.GaussianBlur(g, (0, 0), 1.5)


def _detail_error(swapped: np.ndarray, target: np.ndarray) -> float:
    """How far the swap's fine detail is from half the target's (relative; 0 = exactly half)."""
    want = 0.5 * _highpass(target)
    return float(np.abs(_highpass(swapped) - want).mean() / np.abs(want).mean())


def test_pipeline_pixel_boost_setting_pastes_a_sharper_face(tmp_path: Path, frame: np.ndarray,
                                                            astronaut_path: Path) -> None:
    from obs_faceswap.vision.pipeline import FacePipeline

    d = tmp_path
    det = sf.FixedDetector({(512, 512): [sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)],
                            (1024, 1024): [sf.PlacedFace(tuple(np.asarray(sf.ASTRONAUT_BOX) * 2),
                                                         [tuple(p) for p in KPS2])]})
    base = {"swapper": str(sf.build_inswapper(d / "inswapper_128.onnx")), "color_method": "none",
            "embedder": str(sf.build_arcface(d / "w600k_r50.onnx")), "source_image": str(astronaut_path)}
    assert FaceOptions.from_settings({}).pixel_boost == 128  # live default: off
    plain = FacePipeline.from_settings(base, detector=det).process(frame)
    boosted = FacePipeline.from_settings({**base, "pixel_boost": 512}, detector=det).process(frame)
    x0, y0, x1, y1 = (int(v) for v in np.asarray(sf.ASTRONAUT_BOX) * 2)
    inner = (slice(y0 + 30, y1 - 30), slice(x0 + 30, x1 - 30))
    errors = [_detail_error(out[inner], frame[inner]) for out in (plain, boosted)]
    assert errors[1] < 0.5 * errors[0], errors
