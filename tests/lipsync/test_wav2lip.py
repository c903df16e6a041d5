"""The Wav2Lip adapter's exact pre/post-processing, checked against librosa and a stand-in of the exact signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.errors import ModelSignatureError
from obs_faceswap.lipsync import mel as M
from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.speech import Speech
from obs_faceswap.lipsync.wav2lip import SIZE, Wav2LipSync, crop_matrix, face_box, face_crop, target_tensor
from obs_faceswap.models.standins.lipsync import mouth_ellipse, wav2lip, wav2lip_expected

librosa = pytest.importorskip("librosa")


def test_mel_filterbank_is_librosas() -> None:
    ref = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)  # Wav2Lip's call
    ours = M.mel_filterbank()
    assert ours.shape == ref.shape == (80, 401)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7)


def test_melspectrogram_matches_wav2lips_recipe_through_librosa(tts_speech: Speech) -> None:
    from scipy.signal import lfilter

    y = tts_speech.resampled(16000).audio.astype(np.float64)
    pre = lfilter([1, -0.97], [1], y)
    # librosa 0.7 (Wav2Lip's pin) pads reflectively by default; newer librosa must be told
    stft = librosa.stft(y=pre, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect")
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ np.abs(stft)
    s = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    ref = np.clip(8 * ((s + 100) / 100) - 4, -4, 4)
    ours = M.melspectrogram(y)
    assert ours.shape == ref.shape and ours.shape[1] == 1 + len(y) // 200
    assert np.abs(ours - ref).max() < 1e-3
    assert ours.min() >= -4 and ours.max() <= 4 and ours.max() > 0  # speech reaches the upper half


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
def test_sixteen_mel_frames_per_video_frame_from_i_times_80_over_fps(fps: float) -> None:
    mel = np.arange(80 * 300, dtype=np.float32).reshape(80, 300)
    chunks = M.mel_chunks(mel, fps)
    for i, c in enumerate(chunks[:-1]):
        start = int(i * 80.0 / fps)
        assert c.shape == (80, 16)
        np.testing.assert_array_equal(c, mel[:, start:start + 16])
    assert [M.chunk_start(i, 25.0) for i in range(6)] == [0, 3, 6, 9, 12, 16]
    np.testing.assert_array_equal(chunks[-1], mel[:, -16:])  # Wav2Lip clamps the last chunk to the end
    fixed = M.mel_chunks(mel, fps, n_frames=len(chunks) + 5)
    assert len(fixed) == len(chunks) + 5 and all(np.array_equal(c, mel[:, -16:]) for c in fixed[len(chunks):])


def test_target_is_masked_lower_half_plus_reference_bgr_over_255() -> None:
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    ref = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    t = target_tensor(crop, ref)
    assert t.shape == (1, 6, 96, 96) and t.dtype == np.float32
    np.testing.assert_array_equal(t[0, :3, :48], crop[:48].transpose(2, 0, 1) / np.float32(255))
    assert not t[0, :3, 48:].any()
    np.testing.assert_array_equal(t[0, 3:], ref.transpose(2, 0, 1) / np.float32(255))  # channel 3 = blue


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wav2lip(tmp_path_factory.mktemp("w2l") / "wav2lip.onnx")


def test_standin_path_pastes_the_models_mouth_back(standin: Path, astronaut_bgr: np.ndarray) -> None:
    sync = Wav2LipSync.load(str(standin), "cpu")
    face = EmbeddedLipSync().face(astronaut_bgr)
    box = face_box(face, astronaut_bgr.shape)
    x1, y1, x2, y2 = box
    assert y2 - face.bbox[3] > 0  # padded below the chin
    crop = face_crop(astronaut_bgr, box)
    loud, quiet = np.full((80, 16), 3.0, np.float32), np.full((80, 16), -4.0, np.float32)
    np.testing.assert_allclose(sync.session.run({"source": loud[None, None], "target": target_tensor(crop)})[0],
                               wav2lip_expected(loud, target_tensor(crop)), atol=1e-6)
    out_loud = sync.render(astronaut_bgr, face, loud)
    out_quiet = sync.render(astronaut_bgr, face, quiet)
    changed = np.abs(out_loud.astype(int) - astronaut_bgr).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert ys.min() >= y1 and ys.max() < y2 and xs.min() >= x1 and xs.max() < x2  # only inside the box
    assert ys.min() >= y1 + 0.35 * (y2 - y1)  # and only the lower face
    # the model's darkened mouth, mapped back through the crop transform, lands on the face's mouth
    inv = np.linalg.inv(np.vstack([crop_matrix(box), [0, 0, 1]]))
    cx, cy, _ = inv @ [48, 70, 1]
    mouth = face.landmarks[[13, 14]].mean(0)
    assert abs(cx - mouth[0]) < 0.1 * (x2 - x1) and abs(cy - mouth[1]) < 0.1 * (y2 - y1)
    r = 5
    win = (slice(int(cy) - r, int(cy) + r), slice(int(cx) - r, int(cx) + r))
    assert out_loud[win].mean() < out_quiet[win].mean() - 40  # louder mel, darker mouth
    outside = np.ones(changed.shape, bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(out_quiet[outside], astronaut_bgr[outside])
    assert mouth_ellipse().max() > 0.99


def test_wrong_model_is_refused_with_its_signature(tmp_path: Path) -> None:
    from obs_faceswap.models.standins.quality import gfpgan

    bad = gfpgan(tmp_path / "not_wav2lip.onnx")
    with pytest.raises(ModelSignatureError, match="wav2lip"):
        Wav2LipSync.load(str(bad), "cpu")
