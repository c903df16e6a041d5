"""Five-point similarity alignment: least squares, templates, warp and inverse."""

from __future__ import annotations

import numpy as np
import pytest

from obs_faceswap.vision.align import (
    TEMPLATES,
    estimate_similarity,
    invert,
    template_points,
    transform_points,
    warp_face,
)
from tests.standins.face import ASTRONAUT_KPS


def test_exact_similarity_is_recovered() -> None:
    src = template_points("arcface_112_v2", 112)
    angle, scale, shift = np.radians(17.0), 2.3, np.array([310.0, 95.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ (scale * rot).T + shift
    m = estimate_similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], scale * rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-7)


def test_least_squares_matches_umeyama_reference_in_skimage() -> None:
    rng = np.random.default_rng(4)
    src = rng.uniform(0, 500, (5, 2))
    dst = template_points("arcface_128", 128) + rng.normal(0, 2, (5, 2))
    from skimage.transform import SimilarityTransform

    ref = SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(estimate_similarity(src, dst), ref.params[:2], atol=1e-8)


def test_mirrored_points_still_give_a_proper_rotation() -> None:
    src = template_points("arcface_112_v2", 112)
    dst = src * [-1, 1]
    m = estimate_similarity(src, dst)
    assert np.linalg.det(m[:, :2]) > 0  # similarity, never a reflection


def test_round_trip_crop_and_back() -> None:
    kps = np.asarray(ASTRONAUT_KPS, np.float32)
    for name, size in (("arcface_112_v2", 112), ("arcface_128", 128), ("arcface_112_v1", 256), ("ffhq_512", 512)):
        frame = np.zeros((512, 512, 3), np.uint8)
        crop, m = warp_face(frame, kps, name, size)
        assert crop.shape == (size, size, 3)
        in_crop = transform_points(kps, m)
        # key points land near the template and come back exactly through the inverse
        assert np.abs(in_crop - template_points(name, size)).max() < size * 0.06
        np.testing.assert_allclose(transform_points(in_crop, invert(m)), kps, atol=1e-3)


def test_crop_shows_the_face(astronaut_bgr: np.ndarray) -> None:
    crop, _ = warp_face(astronaut_bgr, np.asarray(ASTRONAUT_KPS, np.float32), "arcface_128", 128)
    # skin in the middle of the aligned crop, not the black border of a missed warp
    centre = crop[48:80, 48:80].astype(float)
    assert centre.mean() > 80 and centre[..., 2].mean() > centre[..., 0].mean()


def test_unknown_template_is_named() -> None:
    with pytest.raises(ValueError, match="arcface_112_v2"):
        template_points("nope", 112)
    assert set(TEMPLATES) >= {"arcface_112_v2", "arcface_128", "ffhq_512", "arcface_112_v1"}


def test_templates_are_the_published_ones() -> None:
    """Anchor points as published (see align.py's docstring for where each comes from)."""
    np.testing.assert_allclose(template_points("arcface_112_v2", 112)[0], [38.2946, 51.6963], atol=1e-3)
    np.testing.assert_allclose(template_points("arcface_128", 128)[0], [46.2946, 51.6963], atol=1e-3)
    np.testing.assert_allclose(template_points("arcface_112_v1", 112)[3:], [[42.4630, 87.0100], [69.5370, 87.0100]],
                               atol=1e-3)
    np.testing.assert_allclose(template_points("ffhq_512", 512)[0], [192.98138, 239.94708], atol=1e-3)
