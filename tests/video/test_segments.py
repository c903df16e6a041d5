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


def test_segments_cover_every_frame_once_and_start_their_warm_up_at_nearby_keyframes() -> None:
    s = stream(250, (0, 50, 103, 160, 240))  # a keyframe every ~2 s, irregular
    plan = plan_segments(s, segment_frames=48, warmup=8)
    # each cut 8 frames after a keyframe near the nominal cut: a segment starting there decodes from
    # that keyframe and only the 8 warm-up frames before its first written frame
    assert [(p.start, p.end) for p in plan] == [(0, 58), (58, 111), (111, 168), (168, 216), (216, 250)]
    assert [p.warm_start for p in plan[1:4]] == [50, 103, 160]
    assert all(a.end == b.start for a, b in zip(plan, plan[1:], strict=False))
    # no keyframe within 12 frames of 208: cut at the nominal 216; the decoder starts 8 frames earlier
    last = plan[-1]
    assert (last.warm_start, last.warmup) == (208, 8)
    assert plan[0].seek is None and plan[0].warmup == 0
    assert abs(plan[1].seek - (49.5 / 25)) < 1e-9  # halfway between frames 49 and 50: lands on 50
    # without warm-up the cuts are the keyframes themselves
    assert [p.start for p in plan_segments(s, segment_frames=48, warmup=0)] == [0, 50, 103, 160, 208]


def test_the_plan_does_not_leave_a_crumb_at_the_end() -> None:
    plan = plan_segments(stream(100, (0,)), segment_frames=48, warmup=8)
    assert [(p.start, p.end) for p in plan] == [(0, 48), (48, 100)]  # not 48 + 48 + 4
    assert plan_segments(stream(5, (0,)), segment_frames=48)[0].end == 5


def test_one_worker_gets_one_segment_and_tracking_restarts_at_the_same_frames_for_any_workers() -> None:
    from obs_faceswap.video.segments import segments_for

    s = stream(250, (0, 50, 103, 160, 240))
    chunks = plan_segments(s, segment_frames=48, warmup=8)
    one = segments_for(s, 1, 48, 8)
    assert [(p.start, p.end, p.warm_start) for p in one] == [(0, 250, 0)]  # nothing decoded twice
    restarts = [c.start for c in chunks[1:]]
    assert [r for r, _ in one[0].restarts] == restarts and {w for _, w in one[0].restarts} == {8}
    for workers in (2, 3, 16):
        plan = segments_for(s, workers, 48, 8)
        assert plan[0].start == 0 and plan[-1].end == 250
        assert all(a.end == b.start for a, b in zip(plan, plan[1:], strict=False))
        # every chunk start is either a segment's start or a restart inside one: the same tracking restarts
        starts = sorted([p.start for p in plan[1:]] + [r for p in plan for r, _ in p.restarts])
        assert starts == restarts, workers
        assert len(plan) == min(len(chunks), 2 * workers)
    two = segments_for(s, 2, 48, 8)  # 5 chunks for 2 processes: 4 segments
    assert [(p.start, p.end, p.warm_start) for p in two] == [(0, 58, 0), (58, 168, 50), (168, 216, 160),
                                                            (216, 250, 208)]
    assert two[1].restarts == ((111, 8),)


def test_the_warm_up_share_is_bounded_by_the_input_length() -> None:
    from obs_faceswap.video.segments import auto_segment_frames, segments_for

    for n, bound in ((100, 0.17), (192, 0.17), (1000, 0.17), (5000, 0.04), (60_000, 0.04)):
        s = stream(n, tuple(range(0, n, 25)))
        chunks = plan_segments(s)  # the default: by the input's length
        warm = sum(c.warmup for c in chunks)
        assert warm / n <= bound, (n, warm)
        assert 48 <= auto_segment_frames(n) <= 240
        # work for 2 processes: a handful of segments, and no extra warm-up from cutting them
        plan = segments_for(s, 2)
        assert len(plan) == min(4, len(chunks))
        assert sum(p.warmup for p in plan) + sum(w for p in plan for _, w in p.restarts) == warm
