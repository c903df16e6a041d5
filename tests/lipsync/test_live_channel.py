"""Lip sync on a worker face channel: audio in the channel's ring drives the mouth of its frames."""

from __future__ import annotations

import cv2
import numpy as np

from obs_faceswap.ipc import WorkerClient
from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.mesh_motion import mouth_opening
from obs_faceswap.lipsync.speech import load_speech
from tests.ipc.util import PYTHON, wait_for
from tests.lipsync.conftest import frame_rms, lagged_r

FPS = 25
RATE = 48000
STEP_NS = 1_000_000_000 // FPS
T0 = 7_000_000_000  # OBS timestamps do not start at 0


def test_face_channel_mouth_follows_the_audio_ring_delayed_by_the_look_ahead(astronaut_bgr, speech_wav) -> None:
    speech = load_speech(speech_wav).resampled(RATE).audio.astype(np.float32)
    per_frame = RATE // FPS
    n = min(len(speech) // per_frame, 90)
    bgra = np.ascontiguousarray(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA))
    h, w = bgra.shape[:2]
    ring = AudioRings.create(RATE, 2, RATE * 2)  # stereo, as OBS hands it: mixed to mono by the feed
    client = WorkerClient(PYTHON).start()
    try:
        assert client.wait_ready(30), client.status
        # the swap itself off: what changes is the lip sync alone
        video = client.open_video({"enabled": False, "lipsync": True, "lipsync_shm": ring.name}, processor="face")
        outs = []
        for j in range(n):  # as OBS delivers them: the frame's audio, then the frame
            block = speech[j * per_frame:(j + 1) * per_frame]
            assert ring.push("in", [block, block], len(block), T0 + j * STEP_NS)
            assert video.submit(bgra, w, h, w * 4, "BGRA", timestamp=T0 + j * STEP_NS)
            view = video.wait_result(60, video.submitted_seq)
            assert view is not None, video.status_text
            outs.append(np.frombuffer(view.tobytes(), np.uint8).reshape(h, w, 4)[..., :3].copy())
        assert wait_for(lambda: video.stats.get("lipsync_delay_ms", 0) > 0, 10), video.stats
        stats = video.stats
        # held back by the look-ahead, less the audio's lead (each frame's audio is in before it here),
        # in whole frames as they arrive
        delay, look = stats["lipsync_delay_ms"], stats["lipsync_look_ahead_ms"]
        assert stats["last_error"] == "" and stats["lipsync_no_face"] == 0 and stats["lipsync_late"] == 0, stats
        assert 60 <= look <= 80 and look - 1000 / FPS <= delay <= look + 1000 / FPS, stats
        assert f"lip sync {delay:.0f} ms delay" in video.status_text, video.status_text
        hold = round(delay * FPS / 1000)  # frames: output k shows input k - hold
        assert np.array_equal(outs[0], astronaut_bgr), "the first frame has no mouth shape yet: shown as it is"
        sync = EmbeddedLipSync()
        opening = np.array([mouth_opening(sync.face(o).landmarks) for o in outs[hold:]])
        loud = frame_rms(speech, RATE, FPS, n)[:n - hold]  # output k: input frame k - hold, with its own mouth
        r0 = lagged_r(loud, opening, 0)
        print(f"lip sync channel: delay {delay} ms ({hold} frames), r(lag 0) = {r0:.3f}, opening {opening.min():.3f}..{opening.max():.3f}")
        assert r0 >= 0.6, r0
        assert r0 >= max(lagged_r(loud, opening, k) for k in (-2, -1, 1, 2))

        video.update({"lipsync": False})  # off: frames pass through again, at once
        assert wait_for(lambda: np.array_equal(
            np.frombuffer(_through(video, bgra).tobytes(), np.uint8).reshape(h, w, 4)[..., :3], astronaut_bgr), 30)
        assert client.restarts == 0
    finally:
        client.stop()
        ring.close()
        ring.segment.unlink()


def _through(video, bgra: np.ndarray):
    h, w = bgra.shape[:2]
    assert video.submit(bgra, w, h, w * 4, "BGRA")
    view = video.wait_result(60, video.submitted_seq)
    assert view is not None, video.status_text
    return view
