"""The live engine: frames come out delayed by the stated look-ahead, mouths in sync with the sound."""

from __future__ import annotations

import numpy as np

from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.live import LiveLipSync
from obs_faceswap.lipsync.mesh_motion import mouth_opening
from obs_faceswap.lipsync.speech import load_speech
from tests.lipsync.conftest import frame_rms, lagged_r

FPS = 25.0


def test_live_frames_are_delayed_by_the_look_ahead_and_in_sync(astronaut_bgr, speech_wav) -> None:
    speech = load_speech(speech_wav).resampled(48000)
    live = LiveLipSync(48000, FPS, still=True)
    assert live.delay_frames == 2 and live.delay_ms == 80.0  # 72.5 ms look-ahead at 25 fps, whole frames
    per_frame = int(48000 / FPS)
    n = len(speech.audio) // per_frame
    out, shown_at = [], []
    for j in range(n):  # as a capture loop would: the frame's audio arrives, then the frame
        live.push_audio(speech.audio[j * per_frame:(j + 1) * per_frame])
        frame = live.push_frame(astronaut_bgr)
        if frame is not None:
            out.append(frame)
            shown_at.append(j)
    assert shown_at[0] == live.delay_frames and len(out) == n - live.delay_frames
    assert live.late == 0 and live.no_face == 0
    sync = EmbeddedLipSync()
    opening = np.array([mouth_opening(sync.face(f).landmarks) for f in out])
    loud = frame_rms(speech.audio, speech.rate, FPS, len(out))  # output k is input frame k
    assert lagged_r(loud, opening, 0) >= 0.6
    assert lagged_r(loud, opening, 0) >= max(lagged_r(loud, opening, k) for k in (-2, 2))


def test_audio_gap_uses_the_newest_shape_and_counts_late_frames(astronaut_bgr) -> None:
    live = LiveLipSync(16000, FPS, still=True)
    for _ in range(10):  # no audio at all: frames still come out after the delay, marked late
        live.push_frame(astronaut_bgr)
    assert live.late == 10 - live.delay_frames


def test_frames_with_their_own_times_stay_in_sync_when_some_are_dropped(astronaut_bgr, speech_wav) -> None:
    """A busy worker sees every frame only now and then: each is placed by its time, not its count."""
    speech = load_speech(speech_wav).resampled(48000)
    live = LiveLipSync(48000, 30.0, still=True)  # 30 mouth shapes a second for 25 fps video
    per_frame = int(48000 / FPS)
    n = len(speech.audio) // per_frame
    shown, times = [], []
    for j in range(n):
        live.push_audio(speech.audio[j * per_frame:(j + 1) * per_frame])
        if j % 3 == 1:  # dropped before the lip sync saw it
            continue
        frame = live.push_frame_at(astronaut_bgr, j / FPS)
        if frame is not None:
            shown.append(frame)
            times.append(j / FPS - live.held_ms / 1000)
    assert live.late == 0 and len(shown) > n // 2
    assert 0 < live.held_ms <= 1000 * live.mouth.latency_s + 1000 / FPS
    sync = EmbeddedLipSync()
    opening = np.array([mouth_opening(sync.face(f).landmarks) for f in shown])
    loud_all = frame_rms(speech.audio, speech.rate, FPS, n)
    loud = loud_all[np.round(np.array(times) * FPS).astype(int)]  # each shown frame's own time
    r = float(np.corrcoef(loud, opening)[0, 1])
    assert r >= 0.6, r
