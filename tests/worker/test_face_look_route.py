"""A look setting's route from a worker face channel to the merge stage: validated once, no model
touched; and worker channels with the same models share their ONNX sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from obs_faceswap.ipc.frames import FrameChannel
from obs_faceswap.models.session import sessions_created
from obs_faceswap.settings import FACE_SETTINGS, Schema
from obs_faceswap.vision import merge
from obs_faceswap.worker.channel_workers import VideoWorker
from obs_faceswap.worker.processors import FaceProcessor
from tests.standins import face as sf


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("look_models")
    face = sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)
    return SimpleNamespace(inswapper=sf.build_inswapper(d / "inswapper_128.onnx"),
                           arcface=sf.build_arcface(d / "w600k_r50.onnx"),
                           det=sf.build_scrfd(d / "det_astro.onnx", [face], (512, 512)))


def _settings(models: SimpleNamespace, source: Path, **kw: Any) -> dict[str, Any]:
    return {"swapper": str(models.inswapper), "embedder": str(models.arcface), "detector": str(models.det),
            "source_image": str(source), "provider": "cpu", "color_method": "none", **kw}


@pytest.fixture()
def channel(models: SimpleNamespace, astronaut_path: Path) -> Iterator[VideoWorker]:
    """A worker's video channel with the face processor, driven in this process (no thread)."""
    frames = FrameChannel.create(512 * 512 * 4)
    worker = VideoWorker(1, frames.name, _settings(models, astronaut_path), "face", lambda _cid: None,
                         lambda _cid, _msg: None)
    worker._apply_pending()
    assert worker.last_error == "" and isinstance(worker.processor, FaceProcessor)
    yield worker
    worker._close_processor()
    worker.chan.close()
    frames.close()
    frames.segment.unlink()


def test_blend_goes_from_the_channel_to_the_merge_stage_validated_once_without_a_model(
        channel: VideoWorker, astronaut_bgr: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    validations: list[dict[str, Any]] = []
    real_validate = Schema.validate

    def counted(self: Schema, values: Any, *, partial: bool = False, strict: bool = False) -> dict[str, Any]:
        if self is FACE_SETTINGS:
            validations.append(dict(values))
        return real_validate(self, values, partial=partial, strict=strict)

    blends: list[float] = []
    real_merge = merge.merge_face

    def seen(out: Any, record: Any, options: Any, **kw: Any) -> Any:
        blends.append(options.blend)
        return real_merge(out, record, options, **kw)

    monkeypatch.setattr(Schema, "validate", counted)
    monkeypatch.setattr(merge, "merge_face", seen)
    processor = channel.processor
    assert isinstance(processor, FaceProcessor)
    full = processor.process(astronaut_bgr.copy())
    assert blends == [1.0]
    created = sessions_created()

    channel.update({"blend": 40})  # what the OBS panel sends when the slider moves
    channel._apply_pending()
    assert channel.last_error == ""
    assert validations == [{"blend": 40}]  # once, at the worker's boundary; never again inside
    assert sessions_created() == created  # a look change loads nothing

    partly = processor.process(astronaut_bgr.copy())
    assert blends == [1.0, 0.4]  # the fraction, divided by 100 in one place, reaches the merge stage
    assert len(validations) == 1  # the frame path validates nothing
    changed_full = np.abs(full.astype(int) - astronaut_bgr).sum()
    changed_part = np.abs(partly.astype(int) - astronaut_bgr).sum()
    assert 0.3 * changed_full < changed_part < 0.5 * changed_full  # 40 % of the swap shows


def test_two_channels_with_other_blends_share_one_set_of_sessions(models: SimpleNamespace, astronaut_path: Path,
                                                                  astronaut_bgr: np.ndarray) -> None:
    a = FaceProcessor(_settings(models, astronaut_path, blend=100))
    out_a = a.process(astronaut_bgr.copy())  # live tracking loads its mesh model on the first frame
    created = sessions_created()
    b = FaceProcessor(_settings(models, astronaut_path, blend=30))
    out_b = b.process(astronaut_bgr.copy())
    assert sessions_created() == created  # the second channel loaded no model
    sessions_a, sessions_b = a.pipeline.sessions(), b.pipeline.sessions()
    assert len(sessions_a) == 3  # detector, recogniser, swapper
    assert all(x is y for x, y in zip(sessions_a, sessions_b, strict=True))
    assert np.abs(out_a.astype(int) - astronaut_bgr).sum() > np.abs(out_b.astype(int) - astronaut_bgr).sum() > 0
    b.update({"blend": 100})  # the same look now: the same picture (each at its second frame), no new session
    assert sessions_created() == created
    assert np.array_equal(b.process(astronaut_bgr.copy()), a.process(astronaut_bgr.copy()))
