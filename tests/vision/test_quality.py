"""QualityStages: the hooks the face pipeline calls, built from the face settings."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.bench.quality import bench_stages
from obs_faceswap.errors import FaceSwapError, ModelError, ModelSignatureError
from obs_faceswap.vision.align import warp_face
from obs_faceswap.vision.color import METHODS
from obs_faceswap.vision.quality import QualityStages
from obs_faceswap.vision.types import Face
from tests.standins import quality as standins

KPS = np.array([[203, 100], [246, 103], [225, 127], [206, 143], [243, 145]], np.float32)  # astronaut


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return standins.all_models(tmp_path_factory.mktemp("quality_models"))


@pytest.fixture(scope="module")
def swap(astronaut_bgr):
    """(frame, face, crop, M) as the pipeline has them: a 256 px arcface crop of the astronaut."""
    face = Face(np.array([180, 60, 270, 180], np.float32), 0.9, KPS)
    crop, m = warp_face(astronaut_bgr, KPS, "arcface_128", 256)
    return astronaut_bgr, face, crop, m


def test_all_off_is_a_no_op(models, swap) -> None:
    frame, face, crop, m = swap
    stages = QualityStages.from_settings({"color_method": "none"}, "cpu", models=models)
    assert stages.enhance(frame, face, crop, m) is crop
    assert stages.mask(crop, crop, face, m) is None
    assert stages.providers == {}


def test_enhance_hook_uses_blend_and_reports_time(models, swap) -> None:
    frame, face, crop, m = swap
    stages = QualityStages.from_settings({"enhancer": "gfpgan_1.4", "enhancer_blend": 0}, "cpu", models=models)
    assert stages.enhance(frame, face, crop, m) is crop
    stages.update(stages.options.with_changes({"enhancer_blend": 100}))
    out = stages.enhance(frame, face, crop, m)
    assert out.shape == crop.shape and out is not crop
    centre = (slice(100, 160), slice(100, 160))
    assert np.abs(out[centre].astype(np.float32) - standins.enhancer_expected(crop[centre])).mean() < 4.0
    assert stages.timings["enhance"] > 0.0
    assert stages.providers["enhancer"] == ["CPUExecutionProvider"]


def test_enhance_frame_changes_only_the_face(models, swap) -> None:
    frame, face, _, _ = swap
    stages = QualityStages.from_settings({"enhancer": "codeformer", "enhancer_blend": 100, "codeformer_fidelity": 1.0}, "cpu",
                           models=models)
    work = frame.copy()
    assert stages.enhance_frame(work, face) is work
    assert not np.array_equal(work[110:140, 200:250], frame[110:140, 200:250])
    assert np.array_equal(work[400:, :], frame[400:, :])


def test_update_reloads_only_what_changed(models, swap) -> None:
    stages = QualityStages.from_settings({"enhancer": "gfpgan_1.4"}, "cpu", models=models)
    enh = stages.enhancer
    stages.update(stages.options.with_changes({"enhancer_blend": 40, "codeformer_fidelity": 0.2, "color_method": "mkl"}))
    assert stages.enhancer is enh
    stages.update(stages.options.with_changes({"enhancer_every": 3}))
    assert stages.enhancer is enh and enh.every == 1  # files: every frame
    live = QualityStages.from_settings({"enhancer": "gfpgan_1.4", "enhancer_every": 3}, "cpu", models=models, live=True)
    assert live.enhancer is not None and live.enhancer.every == 3
    stages.update(stages.options.with_changes({"enhancer": "gpen_512", "occlusion_mask": True}))
    assert stages.enhancer is not enh and stages.enhancer.family == "gpen" and stages.occluder is not None
    stages.update(stages.options.with_changes({"enhancer": "none", "occlusion_mask": False}))
    assert stages.enhancer is None and stages.occluder is None


def test_bad_settings_raise_and_keep_the_old_state(models, monkeypatch, tmp_path) -> None:
    stages = QualityStages.from_settings({"mask_regions": "skin"}, "cpu", models=models)
    with pytest.raises(FaceSwapError, match="unknown face region 'cheeks'"):
        stages.update(stages.options.with_changes({"mask_regions": "skin,cheeks"}))
    assert stages.options.mask_regions == "skin" and stages.regions == (1,)
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path))
    bare = QualityStages.from_settings({}, "cpu")
    with pytest.raises(ModelError, match="not installed.*models download xseg"):
        bare.update(bare.options.with_changes({"occlusion_mask": True}))
    assert bare.occluder is None and bare.options.occlusion_mask is False


def test_wrong_parser_signature_is_refused(models, tmp_path) -> None:
    bad = standins.bisenet(tmp_path / "bisenet18.onnx", classes=18)
    with pytest.raises(ModelSignatureError, match="not a bisenet model.*19"):
        QualityStages.from_settings({"mask_regions": "skin"}, "cpu", models={**models, "bisenet": bad})
    with pytest.raises(ModelSignatureError, match="not a xseg model"):
        QualityStages.from_settings({"occlusion_mask": True}, "cpu", models={**models, "xseg": models["gfpgan_1.4"]})


def test_mask_hook_combines_the_enabled_masks(models) -> None:
    labels, kps_crop = standins.face_layout(256)
    target = standins.paint_labels(labels).copy()
    cv2.rectangle(target, (20, 120), (70, 200), standins.OCCLUDER_BGR, -1)  # occluder on the left cheek
    face = Face(np.array([0, 0, 256, 256], np.float32), 0.9, kps_crop)
    m = np.eye(2, 3)
    stages = QualityStages.from_settings({"mask_regions": "skin,nose", "occlusion_mask": True, "keep_mouth": True}, "cpu",
                           models=models)
    mask = stages.mask(target, target, face, m)
    assert mask is not None and mask.dtype == np.float32 and mask.shape == (256, 256)
    assert set(stages.timings) >= {"parser", "occlusion", "mouth"}
    assert mask[150, 100] > 0.99  # cheek: skin, not covered
    assert mask[145, 128] > 0.99  # nose
    assert mask[112, 95] == 0.0  # eye: not a chosen region
    assert mask[160, 45] == 0.0  # occluder
    assert mask[190, 128] == 0.0  # mouth kept
    assert mask[10, 10] == 0.0  # background


def test_merge_stage_colour_follows_the_options(swap) -> None:
    """Colour transfer belongs to the merge stage: strength 0 pastes the swap as it is, 100 moves
    it toward the target's colours."""
    from obs_faceswap.vision.merge import merge_face
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.record import FaceRecord

    frame, face, crop, m = swap
    dark = np.ascontiguousarray(cv2.GaussianBlur(crop, (0, 0), 3)[:, ::-1] // 2)  # the target's pixels

    def merged(strength: int) -> np.ndarray:
        record = FaceRecord(face=face, crop=dark, affine=m, swapped=crop)
        options = FaceOptions.from_settings({"color_method": "lab", "color_strength": strength})
        return merge_face(frame.copy(), record, options)

    plain, matched = merged(0), merged(100)
    assert float(matched.mean()) < float(plain.mean()) - 1.0


def test_bench_stages_measures_every_stage(models, astronaut_bgr) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, 300:812] = astronaut_bgr
    face = Face(np.array([480, 160, 570, 280], np.float32), 0.9, KPS + np.float32([300, 100]))
    result = bench_stages(frame, face, repeat=1, models=models)
    expected = {f"color_{m}" for m in METHODS} | {"parser", "occlusion", "mouth"}
    expected |= {f"enhance_{e}" for e in ("gfpgan_1.4", "codeformer", "gpen_512")}
    assert expected <= set(result)
    assert all(isinstance(v, float) and v >= 0.0 for v in result.values())


def test_live_mode_runs_the_enhancer_every_kth_frame(models, swap) -> None:
    frame, face, crop, m = swap
    stages = QualityStages.from_settings({"enhancer": "gfpgan_1.4", "enhancer_blend": 100, "enhancer_every": 3}, "cpu",
                           models=models, live=True)
    outs = [stages.enhance(frame, face, crop, m) for _ in range(7)]
    assert stages.enhancer is not None and stages.enhancer.model_runs == 3  # frames 1, 4, 7
    assert all(np.array_equal(o, outs[0]) for o in outs)


def test_updated_leaves_the_running_stages_as_they_were(models, swap) -> None:
    """The pipeline builds a changed look on ``updated()``'s copy; until it switches, frames come out
    of the old stages exactly as before (enhancer strength, its every-k-th cache, the masks)."""
    frame, face, crop, m = swap
    old = QualityStages.from_settings({"enhancer": "codeformer", "enhancer_blend": 100, "codeformer_fidelity": 1.0,
                         "enhancer_every": 3}, "cpu", models=models, live=True)
    before = old.enhance(frame, face, crop, m)
    runs = old.enhancer.model_runs  # type: ignore[union-attr]
    new = old.updated(old.options.with_changes({"codeformer_fidelity": 0.0, "enhancer_every": 1, "occlusion_mask": True,
                       "enhancer_blend": 0}))
    assert new is not old and new.enhancer is not old.enhancer and new.enhancer.session is old.enhancer.session  # type: ignore[union-attr]
    assert new.occluder is not None and old.occluder is None
    assert old.options.codeformer_fidelity == 1.0 and old.enhancer.every == 3  # type: ignore[union-attr]
    assert np.array_equal(old.enhance(frame, face, crop, m), before)  # cached, as before the update
    assert old.enhancer.model_runs == runs  # type: ignore[union-attr]
    assert new.enhance(frame, face, crop, m) is crop  # the new look: blend 0
