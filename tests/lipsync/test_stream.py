"""The streaming (live) mouth tracker: same shapes as the file path, a known look-ahead."""

from __future__ import annotations

import numpy as np

from obs_faceswap.lipsync.motion import mouth_track
from obs_faceswap.lipsync.speech import Speech, load_speech
from obs_faceswap.lipsync.stream import StreamingMouth
from tests.lipsync.conftest import frame_rms, lagged_r

FPS = 30.0


def _stream(speech: Speech, block_s: float) -> tuple[list, list[int]]:
    """Feed ``speech`` in blocks; per shape, the number of samples pushed when it came out."""
    mouth = StreamingMouth(speech.rate, FPS)
    shapes, ready_at = [], []
    step = max(1, int(block_s * speech.rate))
    for i in range(0, len(speech.audio), step):
        got = mouth.push(speech.audio[i:i + step])
        shapes += got
        ready_at += [min(len(speech.audio), i + step)] * len(got)
    tail = mouth.flush()
    return shapes + tail, ready_at + [len(speech.audio)] * len(tail)


def test_streaming_shapes_follow_the_file_path_and_the_loudness(speech_wav) -> None:
    speech = load_speech(speech_wav).resampled(48000)  # OBS's usual rate
    shapes, ready_at = _stream(speech, 0.01)
    offline = mouth_track(speech, FPS)
    n = min(len(shapes), len(offline))
    assert abs(len(shapes) - len(offline)) <= 2
    live = np.array([s.opening for s in shapes[:n]])
    ref = np.array([s.opening for s in offline[:n]])
    assert np.corrcoef(live, ref)[0, 1] > 0.9
    loud = frame_rms(speech.audio, speech.rate, FPS, n)
    assert lagged_r(loud, live, 0) >= 0.6 and lagged_r(loud, live, 0) >= max(lagged_r(loud, live, k) for k in (-2, 2))


def test_each_shape_is_ready_within_the_stated_look_ahead(speech_wav) -> None:
    speech = load_speech(speech_wav)
    mouth = StreamingMouth(speech.rate, FPS)
    assert 0.04 < mouth.latency_s < 0.08  # half a frame + half a 25 ms window + one frame, at 30 fps
    shapes, ready_at = _stream(speech, 0.005)
    late = [ready_at[i] / speech.rate - i / FPS for i in range(len(shapes) - 3)]
    assert max(late) <= mouth.latency_s + 0.005 + 1e-9  # + one block of arrival granularity
    assert min(late) >= mouth.latency_s - 1.0 / speech.rate - 1e-9  # and never earlier: causal


def test_stream_of_silence_and_buffer_stays_small() -> None:
    mouth = StreamingMouth(16000, 25.0)
    shapes = []
    for _ in range(500):  # 5 s in 10 ms blocks
        shapes += mouth.push(np.zeros(160, np.float32))
    assert len(shapes) >= 120 and all(s.opening == 0.0 for s in shapes)
    assert len(mouth.buf) < 16000 * 0.2 and len(mouth.raw) <= 3
