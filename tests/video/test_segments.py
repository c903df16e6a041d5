"""The segment plan: every frame once, cuts at keyframes where one is near, warm-up before each cut."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from obs_faceswap.media import VideoInfo
from obs_faceswap.video.probe import StreamInfo
from obs_faceswap.video.segments import plan_segments


def stream(frames: int, keyframes: tuple[int, ...], fps: int = 25) -> StreamInfo:
    info = VideoInfo(1280, 720, Fraction(fps), frames, True)
    return StreamInfo(Path("x.mp4"), info, tuple(i / fps for i in range(frames)), keyframes)


def test_segments_cover_every_frame_once_and_cut_at_nearby_keyframes() -> None:
    s = stream(250, (0, 50, 103, 160, 240))  # a keyframe every ~2 s, irregular
    plan = plan_segments(s, segment_frames=48, warmup=8)
    assert [(p.start, p.end) for p in plan] == [(0, 50), (50, 103), (103, 160), (160, 208), (208, 250)]
    assert all(a.end == b.start for a, b in zip(plan, plan[1:], strict=False))
    # no keyframe within 12 frames of 208: cut there; the decoder starts 8 frames earlier
    last = plan[-1]
    assert (last.warm_start, last.warmup) == (200, 8)
    assert plan[0].seek is None and plan[0].warmup == 0
    assert abs(plan[1].seek - (41.5 / 25)) < 1e-9  # halfway between frames 41 and 42: lands on 42


def test_the_plan_does_not_leave_a_crumb_at_the_end() -> None:
    plan = plan_segments(stream(100, (0,)), segment_frames=48, warmup=8)
    assert [(p.start, p.end) for p in plan] == [(0, 48), (48, 100)]  # not 48 + 48 + 4
    assert plan_segments(stream(5, (0,)), segment_frames=48)[0].end == 5
