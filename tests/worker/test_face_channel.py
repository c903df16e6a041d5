"""The face pipeline behind a worker channel: swaps, applies settings live, reports bad settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, wait_for


@pytest.fixture(scope="module")
def target(group_bgr: np.ndarray) -> np.ndarray:
    h, w = group_bgr.shape[:2]
    return np.ascontiguousarray(cv2.cvtColor(group_bgr[: h - h % 2, : w - w % 2], cv2.COLOR_BGR2BGRA))


def _through(video, frame: np.ndarray, timeout: float = 60.0) -> np.ndarray | None:
    h, w = frame.shape[:2]
    assert video.submit(frame, w, h, w * 4, "BGRA")
    view = video.wait_result(timeout, video.submitted_seq)
    return None if view is None else np.frombuffer(view.tobytes(), np.uint8).reshape(h, w, 4).copy()


def _settled(video, version: int, timeout: float = 30.0) -> dict:
    """The worker's stats once they reflect the channel's first ``version`` settings messages (1: the
    opening settings, +1 per ``update``); checking the status any earlier would race the next stats
    message (the worker's ``error`` report arrives at once, a correction only with the stats)."""
    assert wait_for(lambda: video.stats.get("settings_version", 0) >= version, timeout), video.stats
    return video.stats


def test_face_channel_swaps_and_follows_settings_live(astronaut_path, target) -> None:
    client = WorkerClient(PYTHON).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({"source_image": str(astronaut_path), "provider": "cpu"}, processor="face")
        out = _through(video, target)
        assert out is not None, video.status_text
        changed = np.abs(out[..., :3].astype(int) - target[..., :3]).sum(-1) > 30
        assert changed.sum() > 500, "no face was swapped"
        assert changed.mean() < 0.5, "the swap should touch faces, not the whole frame"
        assert wait_for(lambda: video.stats.get("frames", 0) >= 1, 5)
        assert "CPUExecutionProvider" in video.stats["providers"]

        video.update({"enabled": False})  # live: the next frames pass through untouched
        assert wait_for(lambda: np.array_equal(_through(video, target), target), 30)

        # a bad change while swapping keeps the last good settings (no switch to pass-through) and
        # still applies what it can (enabled), telling why in the status line
        video.update({"enabled": True, "source_image": "/nonexistent/face.png"})
        stats = _settled(video, 3)  # opened, enabled off, this change
        assert "kept previous settings (source_image)" in stats["last_error"], stats
        assert "face.png" in stats["last_error"] and stats["passing_through"] is False, stats
        assert "kept previous settings" in video.status_text and "passing through" not in video.status_text
        out = _through(video, target)
        assert out is not None and (np.abs(out[..., :3].astype(int) - target[..., :3]).sum(-1) > 30).sum() > 500
        full = np.abs(out[..., :3].astype(int) - target[..., :3]).sum()
        video.update({"blend": 50})  # a good change on top of the still-bad photo applies

        def half_blend() -> bool:
            half = _through(video, target)
            return half is not None and 0 < np.abs(half[..., :3].astype(int) - target[..., :3]).sum() < 0.8 * full

        assert wait_for(half_blend, 30)
        stats = _settled(video, 4)  # the blend applied, the bad photo is still reported
        assert "kept previous settings (source_image)" in stats["last_error"], stats
        assert "face.png" in video.status_text

        video.update({"source_image": str(astronaut_path), "blend": 100})  # fixed: the error goes away
        stats = _settled(video, 5)
        assert stats["last_error"] == "" and video.last_error == "", stats
        assert "kept previous" not in video.status_text, video.status_text
        out = _through(video, target)
        assert out is not None and (np.abs(out[..., :3].astype(int) - target[..., :3]).sum(-1) > 30).sum() > 500

        assert client.restarts == 0
    finally:
        client.stop()


def test_bad_settings_from_the_start_pass_through(target) -> None:
    with WorkerClient(PYTHON) as client:
        assert client.wait_ready(30), client.status
        video = client.open_video({"source_image": "/nonexistent/face.png", "provider": "cpu"}, processor="face")
        video.submit(target, target.shape[1], target.shape[0], target.shape[1] * 4, "BGRA")
        stats = _settled(video, 1)  # the opening settings were tried
        assert stats["passing_through"] is True and "face.png" in stats["last_error"], stats
        assert "passing through" in video.status_text and "face.png" in video.status_text, video.status_text
        assert video.wait_result(1.0, video.submitted_seq) is None  # bypass: the caller shows its input
