"""Masks, checked geometrically on a face layout the stand-in parser reads back exactly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.models.session import create_session
from obs_faceswap.vision.align import invert, transform_points
from obs_faceswap.vision.masks import (
    REGIONS,
    FaceParser,
    Occluder,
    box_mask,
    combine,
    mouth_mask,
    mouth_region,
    parse_regions,
)
from obs_faceswap.vision.paste import paste_back
from obs_faceswap.vision.quality import QualityStages
from obs_faceswap.vision.types import Face
from tests.standins import quality as standins

SIZE = 256


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return standins.all_models(tmp_path_factory.mktemp("quality_models"))


@pytest.fixture(scope="module")
def parser(models) -> FaceParser:
    return FaceParser(create_session(models["bisenet"], "cpu"))


@pytest.fixture(scope="module")
def layout() -> tuple[np.ndarray, np.ndarray]:
    return standins.face_layout(SIZE)


def interior(labels: np.ndarray, classes, px: int = 2) -> np.ndarray:
    """Pixels of ``classes`` at least ``px`` pixels away from any other class."""
    m = np.isin(labels, list(classes)).astype(np.uint8)
    return cv2.erode(m, np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


# ---------------------------------------------------------------- box and combine


def test_box_mask_padding_per_side() -> None:
    m = box_mask(100, (0.2, 0.0, 0.1, 0.3), 0.0)
    rows, cols = np.nonzero(m == 1.0)
    assert rows.min() == 21 and rows.max() == 100 - 11 - 1  # top 20 %, bottom 10 % (+1 px edge)
    assert cols.min() == 31 and cols.max() == 100 - 1 - 1  # left 30 %, right 0 %
    assert set(np.unique(m)) == {0.0, 1.0}
    soft = box_mask(100, (0.0, 0.0, 0.0, 0.0), 0.3)
    assert soft[50, 50] == pytest.approx(1.0, abs=1e-3) and soft[0, 0] < 0.05 and 0.2 < soft[50, 8] < 0.9
    assert not soft.flags.writeable


def test_combine_is_elementwise_minimum() -> None:
    a = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    b = a[::-1].copy()
    assert combine([]) is None and combine([None, None]) is None
    assert np.array_equal(combine([a, None, b]), np.minimum(a, b))
    assert np.array_equal(a, np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4))  # inputs untouched


# ---------------------------------------------------------------- parser regions


def test_parser_reads_the_painted_layout(parser, layout) -> None:
    labels, _ = layout
    got = parser.labels(standins.paint_labels(labels))
    assert got.shape == labels.shape
    assert (got == labels).mean() > 0.98
    for c in np.unique(labels):
        inside = interior(labels, [c])
        assert np.all(got[inside] == c), c


def test_region_names() -> None:
    assert parse_regions("") == ()
    assert parse_regions("skin, Nose,lips") == (1, 10, 12, 13)
    assert parse_regions(["brows", "eyes"]) == (2, 3, 4, 5)
    with pytest.raises(FaceSwapError, match="unknown face region 'beard'.*skin"):
        parse_regions("skin,beard")


@pytest.mark.parametrize("regions", ["skin,nose", "lips", "eyes,brows", "skin,brows,eyes,nose,mouth,lips", "hair,neck"])
def test_region_choice_includes_and_excludes_the_right_classes(parser, regions: str) -> None:
    labels, _ = standins.face_layout(512)  # the parser's own size: no resampling between classes
    chosen = parse_regions(regions)
    m = FaceParser.region_mask(parser.labels(standins.paint_labels(labels)), chosen)
    assert m.dtype == np.float32 and m.shape == labels.shape
    others = [c for c in range(19) if c not in chosen]
    assert np.all(m[interior(labels, chosen, 7)] > 0.98)
    assert np.all(m[interior(labels, others, 1)] == 0.0)


def test_lips_are_upper_and_lower_but_not_the_mouth_opening(parser, layout) -> None:
    labels, _ = layout
    m = FaceParser.region_mask(parser.labels(standins.paint_labels(labels)), parse_regions("lips"))
    assert REGIONS["lips"] == (12, 13)
    assert np.all(m[labels == 11] == 0.0)
    assert m[interior(labels, [12], 1)].max() > 0.99 and m[interior(labels, [13], 1)].max() > 0.99


# ---------------------------------------------------------------- occlusion


def test_occlusion_keeps_the_occluder(models, layout) -> None:
    labels, _ = layout
    target = standins.paint_labels(labels).copy()
    cv2.rectangle(target, (150, 140), (200, 256), standins.OCCLUDER_BGR, -1)  # a microphone in front
    occluded = np.zeros(labels.shape, bool)
    occluded[140:257, 150:201] = True
    m = Occluder(create_session(models["xseg"], "cpu")).mask(target)
    assert m.shape == labels.shape and m.dtype == np.float32
    inner = cv2.erode(occluded.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.all(m[inner] == 0.0)
    far = cv2.dilate(occluded.astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
    assert np.all(m[far & (labels > 0)] > 0.99)


def test_occlusion_reads_bgr_not_rgb(models) -> None:
    """The stand-in flags blue; a red patch (blue in RGB order) must stay face."""
    img = np.full((SIZE, SIZE, 3), (150, 180, 230), np.uint8)
    img[:, :128] = (40, 40, 255)  # red in BGR
    m = Occluder(create_session(models["xseg"], "cpu")).mask(img)
    assert m[:, 20:100].min() > 0.99


# ---------------------------------------------------------------- keep the original mouth


@pytest.fixture(scope="module")
def scene(layout, astronaut_bgr):
    """A frame showing the layout face rotated/scaled, the swap crop transform M, and a 'swapped' crop."""
    labels, kps_crop = layout
    m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 12.0, 0.8)  # frame -> crop: rotate, zoom out
    m[:, 2] += (-90.0, -60.0)
    inv = invert(m)
    frame_labels = cv2.warpAffine(labels, inv, (480, 360), flags=cv2.INTER_NEAREST, borderValue=0)
    frame = np.ascontiguousarray(standins.paint_labels(frame_labels))
    target_crop = cv2.warpAffine(frame, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    swapped = cv2.resize(astronaut_bgr[40:220, 140:310], (SIZE, SIZE))
    face = Face(np.array([0, 0, 1, 1], np.float32), 0.9, transform_points(kps_crop, inv).astype(np.float32))
    return frame, frame_labels, m, target_crop, swapped, face


@pytest.mark.parametrize("source", ["parser", "landmarks", "kps"])
def test_keep_mouth_leaves_target_lips_byte_identical(models, scene, source: str) -> None:
    frame, frame_labels, m, target_crop, swapped, face = scene
    settings = {"keep_mouth": True, "mask_regions": "skin,nose,eyes,brows,mouth,lips" if source == "parser" else ""}
    if source == "landmarks":
        face = Face(face.bbox, face.score, face.kps, landmarks=standins.mesh_with_lips(face.kps))
    stages = QualityStages.from_settings(settings, "cpu", models=models)
    mask = stages.mask(swapped, target_crop, face, m)
    assert mask is not None and mask.shape == (SIZE, SIZE)
    full = combine([box_mask(SIZE, (0.0, 0.0, 0.0, 0.0), 0.1), mask])
    out = paste_back(frame.copy(), swapped, m, full, 1.0)
    lips = np.isin(frame_labels, (11, 12, 13))  # every lip pixel, edges included
    assert lips.sum() > 500
    assert np.array_equal(out[lips], frame[lips])
    skin = interior(frame_labels, (1,), 6)
    skin &= cv2.dilate(np.isin(frame_labels, (11, 12, 13)).astype(np.uint8), np.ones((41, 41), np.uint8)) == 0
    changed = np.any(out[skin] != frame[skin], axis=1).mean()
    assert changed > 0.9  # the rest of the face is swapped


def test_mouth_size_grows_the_kept_region(layout) -> None:
    _, kps = layout
    small = mouth_region(SIZE, kps=kps, scale=0.5).sum()
    normal = mouth_region(SIZE, kps=kps, scale=1.0).sum()
    big = mouth_region(SIZE, kps=kps, scale=2.0).sum()
    assert small < normal < big
    labels, _ = layout
    assert mouth_region(SIZE, labels=labels, scale=1.5).sum() > mouth_region(SIZE, labels=labels).sum()


def test_mouth_mask_is_zero_on_the_mouth_and_one_far_away(layout) -> None:
    labels, kps = layout
    region = mouth_region(SIZE, labels=labels)
    assert np.array_equal(region > 0, np.isin(labels, (11, 12, 13)))
    m = mouth_mask(region)
    assert np.all(m[region > 0] == 0.0)
    assert np.all(m[interior(labels, (4, 5, 17), 1)] == 1.0)
    assert np.all(mouth_mask(np.zeros_like(region)) == 1.0)


def test_without_keep_mouth_the_lips_are_swapped(models, scene) -> None:
    """Control for the test above: the same scene without the option replaces the lips."""
    frame, frame_labels, m, target_crop, swapped, face = scene
    stages = QualityStages.from_settings({"keep_mouth": False, "mask_regions": "skin,nose,eyes,brows,mouth,lips"}, "cpu",
                           models=models)
    full = combine([box_mask(SIZE, (0.0, 0.0, 0.0, 0.0), 0.1), stages.mask(swapped, target_crop, face, m)])
    out = paste_back(frame.copy(), swapped, m, full, 1.0)
    lips = interior(frame_labels, (12, 13), 4)
    assert np.any(out[lips] != frame[lips], axis=1).mean() > 0.9


def test_mouth_falls_back_to_key_points_when_the_parser_sees_no_mouth(layout) -> None:
    labels, kps = layout
    no_mouth = np.where(np.isin(labels, (11, 12, 13)), 1, labels).astype(np.uint8)  # painted over with skin
    region = mouth_region(SIZE, labels=no_mouth, kps=kps)
    assert np.array_equal(region, mouth_region(SIZE, kps=kps)) and region[188, 128] == 1
