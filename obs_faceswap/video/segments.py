"""Cut a video into segments that can be swapped independently and joined without re-encoding.

The plan depends only on the input (its frames and keyframes) and the segment length, never on
how many processes or Ray workers run it: ``--jobs 1``, ``--jobs N`` and ``--ray`` cut the same
video at the same frames, so with the same settings they write the same frames.

Each segment starts at a keyframe when one lies near its nominal start (the decoder starts there
directly); otherwise ffmpeg decodes from the keyframe before it and drops frames up to the start
(exact, just slower). Tracking carries state from frame to frame (the last detection, the
smoothing filter): each segment starts ``warmup`` frames early with a fresh tracker and drops
those frames, so a face is already tracked and smoothed on the segment's first written frame.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from obs_faceswap.video.probe import StreamInfo

DEFAULT_SEGMENT_FRAMES = 48
DEFAULT_WARMUP = 8  # > detect_every's default (3) twice, and ~the One-Euro smoother's settling time


@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first frame written
    end: int  # one past the last frame written
    warm_start: int  # first frame decoded (start - warm-up frames, never before 0)
    seek: float | None  # ffmpeg -ss value (s) that lands on ``warm_start``; None from the file's start

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def warmup(self) -> int:
        return self.start - self.warm_start

    @property
    def name(self) -> str:
        return f"segment {self.index + 1} (frames {self.start}-{self.end - 1})"


def _seek_time(stream: StreamInfo, frame: int) -> float | None:
    """A -ss position that decodes ``frame`` first: half a frame before it (ffmpeg's accurate seek
    drops the frames before the position, so rounding can neither skip it nor keep its predecessor)."""
    if frame <= 0:
        return None
    times = stream.times
    return max(0.0, (times[frame] + times[frame - 1]) / 2.0)


def plan_segments(stream: StreamInfo, segment_frames: int = DEFAULT_SEGMENT_FRAMES,
                  warmup: int = DEFAULT_WARMUP) -> list[Segment]:
    """Consecutive segments of about ``segment_frames`` frames covering every frame once."""
    n = stream.frames
    size = max(1, int(segment_frames))
    keys = stream.keyframes
    bounds = [0]
    while bounds[-1] + size < n:
        nominal = bounds[-1] + size
        # snap to a keyframe within a quarter segment (a cut there decodes nothing twice)
        i = bisect_left(keys, nominal - size // 4)
        near = [k for k in keys[i:i + 4] if abs(k - nominal) <= size // 4 and bounds[-1] < k < n]
        cut = min(near, key=lambda k: abs(k - nominal)) if near else nominal
        if n - cut < max(1, size // 4):  # no crumb at the end: the last segment runs a little longer
            break
        bounds.append(cut)
    bounds.append(n)
    out = []
    for idx, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        w = max(0, a - max(0, int(warmup)))
        out.append(Segment(idx, a, b, w, _seek_time(stream, w)))
    return out
