"""Values from OBS outside a setting's range (a scene collection edited by hand, an obs-websocket
script) are refused by the worker with the valid range, as the CLI refuses them, and the running
value stays; the refusal shows in the filter's status line like any other refused setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.voice.options import VoiceOptions
from obs_faceswap.worker.channel_workers import AudioWorker
from obs_faceswap.worker.processors import VoiceProcessor
from tests.ipc.util import PYTHON, wait_for

RATE = 48000


@pytest.fixture()
def audio() -> Iterator[AudioWorker]:
    """A worker's audio channel with the voice processor at pitch +2, driven in this process."""
    rings = AudioRings.create(RATE, 1, RATE)
    worker = AudioWorker(1, rings.name, {"pitch": 2, "mix": 100}, "voice", lambda _cid: None,
                         lambda _cid, _msg: None)
    worker._apply_pending()
    assert worker.last_error == "" and isinstance(worker.processor, VoiceProcessor)
    yield worker
    worker._close_processor()
    worker.ring.close()
    rings.close()
    rings.segment.unlink()


def test_options_refuse_out_of_range_values_naming_the_range() -> None:
    with pytest.raises(ValueError, match=r"'blend': 150 is outside its range 0\.\.100 %"):
        FaceOptions.from_settings({"blend": 150})
    with pytest.raises(ValueError, match=r"'face_index': 40 is outside its range"):
        FaceOptions.from_settings({}).with_changes({"face_index": 40})
    with pytest.raises(ValueError, match=r"'pitch': 30 is outside its range -24\.\.24 st"):
        VoiceOptions.from_settings({}).with_changes({"pitch": 30})
    assert FaceOptions.from_settings({"blend": 100}).blend == 1.0  # the ends of the range are in it


def test_an_out_of_range_voice_value_keeps_the_running_one(audio: AudioWorker) -> None:
    processor = audio.processor
    assert isinstance(processor, VoiceProcessor)
    before = processor.engine.options
    audio.update({"pitch": 30, "mix": 100})  # what OBS sends: every key, one of them out of range
    audio._apply_pending()
    assert "kept previous settings (pitch)" in audio.last_error
    assert "outside its range -24..24 st" in audio.last_error
    assert processor.engine.options.pitch == before.pitch == 2.0 and audio.processor is processor
    audio.update({"pitch": 5})  # a good value applies and clears the refusal
    audio._apply_pending()
    assert audio.last_error == "" and processor.engine.options.pitch == 5.0


def test_an_out_of_range_value_at_opening_is_refused_not_clamped() -> None:
    rings = AudioRings.create(RATE, 1, RATE)
    worker = AudioWorker(1, rings.name, {"mix": 150}, "voice", lambda _cid: None, lambda _cid, _msg: None)
    try:
        worker._apply_pending()
        assert worker.processor is None  # no running value to keep: the audio passes through ...
        assert "'mix': 150 is outside its range 0..100 %" in worker.last_error  # ... and says why
    finally:
        worker._close_processor()
        worker.ring.close()
        rings.close()
        rings.segment.unlink()


def test_the_panel_shows_the_refused_blend_and_the_swap_keeps_its_blend(astronaut_path: Path,
                                                                       group_bgr: np.ndarray) -> None:
    h, w = group_bgr.shape[:2]
    frame = np.ascontiguousarray(cv2.cvtColor(group_bgr[: h - h % 2, : w - w % 2], cv2.COLOR_BGR2BGRA))
    fh, fw = frame.shape[:2]
    client = WorkerClient(PYTHON).start()

    def swapped_pixels() -> int:
        assert video.submit(frame, fw, fh, fw * 4, "BGRA")
        view = video.wait_result(60, video.submitted_seq)
        assert view is not None, video.status_text
        out = np.frombuffer(view.tobytes(), np.uint8).reshape(fh, fw, 4)
        return int((np.abs(out[..., :3].astype(int) - frame[..., :3]).sum(-1) > 30).sum())

    try:
        assert client.wait_ready(30), client.status
        settings = {"source_image": str(astronaut_path), "provider": "cpu", "blend": 100}
        video = client.open_video(settings, processor="face")
        full = swapped_pixels()
        assert full > 500, "no face was swapped"
        video.update({**settings, "blend": 150})  # e.g. a scene collection edited by hand
        assert wait_for(lambda: video.stats.get("settings_version", 0) >= 2, 30), video.stats
        status = video.status_text  # the line the OBS panel shows
        assert "kept previous settings (blend)" in status and "outside its range 0..100 %" in status, status
        assert "passing through" not in status
        assert swapped_pixels() > 0.8 * full  # still swapping at the running blend, 100 %
        video.update(settings)  # back to a valid value: the refusal goes away
        assert wait_for(lambda: video.stats.get("settings_version", 0) >= 3, 30), video.stats
        assert "kept previous" not in video.status_text and video.last_error == ""
    finally:
        client.stop()
