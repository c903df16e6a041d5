"""Soak: many 1280x720 frames through a worker running the stand-in ONNX model, with a settings change
every 100 frames: memory and fds stay flat, no frame is lost.

Frames default to 10 000; set OBS_FACESWAP_SOAK_FRAMES to change it (CI may lower it).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, fd_count, rss_kb, wait_for

FRAMES = int(os.environ.get("OBS_FACESWAP_SOAK_FRAMES", "10000"))
W, H = 1280, 720


@pytest.mark.slow
def test_soak_rss_and_fds_stay_flat() -> None:
    client = WorkerClient(PYTHON).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({"provider": "cpu"}, processor="standin")
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (H, W, 4), dtype=np.uint8) for _ in range(4)]
        me, worker = os.getpid(), client.worker_pid
        warm = min(500, FRAMES // 4)
        base: dict[str, int] = {}
        lost = 0
        t0 = time.monotonic()
        for i in range(FRAMES):
            f = frames[i % 4]
            if i % 100 == 99:  # a settings change every 100 frames, as OBS sends on each panel change
                video.update({"provider": "cpu"})
            assert video.submit(f.ctypes.data, W, H, W * 4, "BGRA", i)
            view = video.wait_result(10, video.submitted_seq)
            if view is None:
                lost += 1
                continue
            if i % 997 == 0:  # the model really ran: its corner is inverted, the rest untouched
                px = np.frombuffer(view.planes[0], np.uint8).reshape(H, W, 4)
                assert abs(int(px[10, 10, 0]) - (255 - int(f[10, 10, 0]))) <= 1
                assert np.array_equal(px[100:110, 100:110], f[100:110, 100:110])
            if i == warm:
                base = {"rss_me": rss_kb(me), "rss_worker": rss_kb(worker), "fd_me": fd_count(me),
                        "fd_worker": fd_count(worker)}
        elapsed = time.monotonic() - t0
        grown_me = rss_kb(me) - base["rss_me"]
        grown_worker = rss_kb(worker) - base["rss_worker"]
        assert lost == 0
        assert wait_for(lambda: video.stats.get("settings_version", 0) >= 1 + FRAMES // 100, 10), video.stats
        assert video.stats.get("last_error", "") == "", video.stats
        assert client.worker_pid == worker and client.restarts == 0
        assert grown_me < 16 * 1024, f"client RSS grew {grown_me} kB over {FRAMES} frames"
        assert grown_worker < 16 * 1024, f"worker RSS grew {grown_worker} kB over {FRAMES} frames"
        assert fd_count(me) <= base["fd_me"] and fd_count(worker) <= base["fd_worker"]
        print(f"soak: {FRAMES} frames in {elapsed:.1f} s, RSS +{grown_me} kB client, +{grown_worker} kB worker")
    finally:
        client.stop()
