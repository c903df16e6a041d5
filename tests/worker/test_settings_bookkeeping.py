"""Settings bookkeeping in a real worker (issue #19): OBS sends every key on each change, so an
error must clear when the values are back to the running ones, a refused value is not tried again
on unrelated changes, and settings that depend on each other are judged together."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, wait_for
from tests.standins.voice import content_encoder, rvc_synth


@pytest.fixture
def client():
    c = WorkerClient(PYTHON, max_result_age=5.0).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def _settled(ch, version: int, timeout: float = 60.0) -> dict:
    """Stats once they reflect the channel's first ``version`` settings messages (1: opening)."""
    assert wait_for(lambda: ch.stats.get("settings_version", 0) >= version, timeout), ch.stats
    return ch.stats


def _push_some(audio, n: int = 4) -> None:
    block = [np.zeros(480, np.float32).tobytes()]
    for _ in range(n):
        audio.push(block, 480)


def test_reverting_clears_the_error_and_refused_values_are_not_retried(client, tmp_path: Path,
                                                                      astronaut_path: Path) -> None:
    photo = tmp_path / "face.png"
    shutil.copy(astronaut_path, photo)
    everything = {"source_image": str(photo), "blend": 100}  # OBS sends every key each time
    video = client.open_video(everything, processor="face")
    frame = np.zeros((64, 64, 4), np.uint8)
    assert video.submit(frame, 64, 64, 256, "BGRA", 0)
    assert _settled(video, 1)["last_error"] == ""
    bad = tmp_path / "not_a_face.png"
    bad.write_bytes(b"\x89PNG not really")
    video.update({**everything, "source_image": str(bad)})
    assert "kept previous settings (source_image)" in _settled(video, 2)["last_error"]
    video.update(everything)  # back to the photo that runs: nothing is wrong any more
    stats = _settled(video, 3)
    assert stats["last_error"] == "" and "kept previous" not in video.status_text, stats

    video.update({**everything, "source_image": str(bad)})
    first = _settled(video, 4)["last_error"]
    assert "kept previous settings (source_image)" in first
    shutil.copy(astronaut_path, bad)  # the same value now names a good photo ...
    video.update({**everything, "source_image": str(bad), "blend": 60})  # ... and another setting changes
    stats = _settled(video, 5)
    assert stats["last_error"] == first, stats  # the refused value was not read again for a blend change


def test_a_backend_and_its_model_are_judged_together(client, tmp_path: Path) -> None:
    encoder = content_encoder(tmp_path / "contentvec.onnx")
    good = rvc_synth(tmp_path / "voice.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x01 this is not an onnx file" * 10)
    base = {"backend": "dsp", "voice_model": "", "content_encoder": str(encoder), "pitch": 0.0}
    audio = client.open_audio(48000, 1, base, processor="voice")
    _push_some(audio)
    assert _settled(audio, 1)["last_error"] == ""
    audio.update({**base, "backend": "rvc", "voice_model": str(corrupt)})
    err = _settled(audio, 2)["last_error"]
    # the file's own problem, not "needs a voice model" from trying the backend alone
    assert "kept previous settings" in err and "corrupt.onnx" in err and "needs a voice model" not in err, err
    audio.update({**base, "backend": "rvc", "voice_model": str(good)})  # the next choice: a good file
    stats = _settled(audio, 3)
    assert stats["last_error"] == "", stats
    assert "corrupt.onnx" not in audio.status_text


def test_a_look_change_shows_on_the_next_frame(client, astronaut_bgr: np.ndarray, group_photo_path: Path) -> None:
    """A slider (blend) moved in OBS: the very next frame submitted after it shows the change, not one
    processed with the old look because the frame overtook the settings message."""
    import cv2

    frame = np.ascontiguousarray(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA))
    h, w = frame.shape[:2]
    settings = {"source_image": str(group_photo_path), "swapper": "embedded", "blend": 100}
    video = client.open_video(settings, processor="face")

    def next_frame_changed() -> int:
        assert video.submit(frame, w, h, w * 4, "BGRA", 0)
        view = video.wait_result(10, video.submitted_seq)
        assert view is not None, video.status_text
        out = np.frombuffer(view.tobytes(), np.uint8).reshape(h, w, 4)
        return int((np.abs(out[..., :3].astype(np.int16) - frame[..., :3]).max(-1) > 30).sum())

    assert wait_for(lambda: next_frame_changed() > 500, 30), video.status_text
    late = []
    for i in range(12):
        blend = 0 if i % 2 == 0 else 100
        video.update({**settings, "blend": blend})
        px = next_frame_changed()
        if (blend == 0) != (px < 50):
            late.append((i, blend, px))
    assert not late, f"frames processed with the previous look after the change: {late}"
