"""Colour transfer on real photos: the astronaut's face moves toward a face from insightface's t1.jpg."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.vision.color import METHODS, transfer_color

SIZE = 256


@pytest.fixture(scope="module")
def faces(astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(src, ref, mask): astronaut face crop, a face crop from the group photo, a face ellipse."""
    src = cv2.resize(astronaut_bgr[40:220, 150:300], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    ref = cv2.resize(group_bgr[250:410, 455:615], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    mask = np.zeros((SIZE, SIZE), np.float32)
    cv2.ellipse(mask, (SIZE // 2, SIZE // 2), (SIZE * 3 // 10, SIZE * 4 // 10), 0, 0, 360, 1.0, -1)
    return src, ref, mask


def lab_stats(img: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_BGR2LAB)
    px = lab.reshape(-1, 3) if mask is None else lab[mask > 0.5]
    return px.mean(0), px.std(0)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "none"])
@pytest.mark.parametrize("use_mask", [False, True])
def test_method_moves_face_colour_toward_reference(faces, method: str, use_mask: bool) -> None:
    src, ref, mask = faces
    m = mask if use_mask else None
    out = transfer_color(src, ref, method, 1.0, m)
    assert out.shape == src.shape and out.dtype == np.uint8
    mu_s, sd_s = lab_stats(src, m)
    mu_r, sd_r = lab_stats(ref, m)
    mu_o, sd_o = lab_stats(out, m)
    before = float(np.linalg.norm(mu_s - mu_r))
    after = float(np.linalg.norm(mu_o - mu_r))
    assert before > 10.0  # the two photos really differ
    assert after < 0.3 * before, (method, before, after)
    # the spread moves toward the reference's too (the astronaut's face has more contrast)
    assert np.linalg.norm(sd_o - sd_r) < np.linalg.norm(sd_s - sd_r), (method, sd_s, sd_o, sd_r)


@pytest.mark.parametrize("method", METHODS)
def test_strength_zero_is_unchanged(faces, method: str) -> None:
    src, ref, mask = faces
    assert np.array_equal(transfer_color(src, ref, method, 0.0, mask), src)
    assert np.array_equal(transfer_color(src, ref, method, 0.0), src)


def test_none_returns_input(faces) -> None:
    src, ref, _ = faces
    assert np.array_equal(transfer_color(src, ref, "none", 1.0), src)


@pytest.mark.parametrize("method", ["lab", "mkl", "hist"])
def test_strength_blends_linearly(faces, method: str) -> None:
    src, ref, mask = faces
    full = transfer_color(src, ref, method, 1.0, mask).astype(np.float32)
    half = transfer_color(src, ref, method, 0.5, mask).astype(np.float32)
    expected = 0.5 * full + 0.5 * src.astype(np.float32)
    assert np.abs(half - expected).max() <= 1.0


def test_mask_takes_statistics_inside_the_face_only(faces) -> None:
    """With a mask, the face region (not the background around it) is what gets matched."""
    src, ref, mask = faces
    mu_r, _ = lab_stats(ref, mask)
    with_mask = lab_stats(transfer_color(src, ref, "lab", 1.0, mask), mask)[0]
    without = lab_stats(transfer_color(src, ref, "lab", 1.0), mask)[0]
    assert np.linalg.norm(with_mask - mu_r) < 1.5
    assert np.linalg.norm(with_mask - mu_r) < np.linalg.norm(without - mu_r)


@pytest.mark.parametrize("method", ["idt", "sot"])
def test_random_methods_are_deterministic(faces, method: str) -> None:
    src, ref, mask = faces
    first = transfer_color(src, ref, method, 1.0, mask)
    assert np.array_equal(first, transfer_color(src, ref, method, 1.0, mask))  # same input: no flicker
    # ... yet it follows its input: a redder reference gives another, redder result
    redder = ref.copy()
    redder[..., 2] = np.minimum(redder[..., 2].astype(np.int16) + 40, 255).astype(np.uint8)
    other = transfer_color(src, redder, method, 1.0, mask)
    inside = mask > 0.5
    shift = other[inside].astype(np.float32).mean(0) - first[inside].astype(np.float32).mean(0)
    assert shift[2] > 20 and abs(shift[0]) < shift[2] / 2, shift  # BGR: red up, blue about the same


def test_flat_reference_does_not_blow_up(faces) -> None:
    """A uniform reference (e.g. a black frame) gives a valid image, no NaNs or wrap-around."""
    src, _, mask = faces
    flat = np.full_like(src, 90)
    for method in METHODS[1:]:
        out = transfer_color(src, flat, method, 1.0, mask)
        assert out.dtype == np.uint8
        assert np.abs(out[mask > 0.5].astype(np.float32).mean(0) - 90).max() < 12, method


def test_bad_arguments_are_clear(faces) -> None:
    src, ref, _ = faces
    with pytest.raises(ValueError, match="unknown colour method 'bogus'"):
        transfer_color(src, ref, "bogus", 1.0)
    with pytest.raises(ValueError, match="same size"):
        transfer_color(src, ref[:100], "lab", 1.0)


def test_gain_limits_bound_the_lab_spread_change(astronaut_bgr: np.ndarray) -> None:
    # a flat, pale reference: plain Reinhard would squash the source's contrast (L) and colours
    src = astronaut_bgr
    ref = cv2.addWeighted(cv2.GaussianBlur(src, (0, 0), 6), 0.3, np.full_like(src, 200), 0.7, 0)
    _, sd_src = lab_stats(src)
    _, sd_ref = lab_stats(ref)
    plain = lab_stats(transfer_color(src, ref, "lab", 1.0))[1] / sd_src
    limits = ((0.8, 0.3, 0.3), (1.25, 1.25, 1.25))
    bounded = lab_stats(transfer_color(src, ref, "lab", 1.0, gain_limits=limits))[1] / sd_src
    assert plain[0] < 0.5  # squashed
    assert 0.75 < bounded[0] < 1.3  # the source keeps its contrast
    assert np.allclose(bounded[1:], np.clip(sd_ref[1:] / sd_src[1:], 0.3, 1.25), atol=0.08)
    # other methods ignore the limits
    assert np.array_equal(transfer_color(src, ref, "mkl", 1.0, gain_limits=limits), transfer_color(src, ref, "mkl", 1.0))
