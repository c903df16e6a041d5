"""Cut a video into segments that can be swapped independently and joined without re-encoding.

Two levels. **Tracking chunks** (``plan_segments``): where tracking restarts. They depend only on
the input (its frames and keyframes) and the chunk length, never on how many processes or Ray
workers run it, so ``--jobs 1``, ``--jobs N`` and ``--ray`` restart tracking at the same frames and
write the same frames. **Work segments** (``group_segments``): runs of consecutive chunks, one
decoder each, as many as the workers need (``--jobs 1``: one); inside a work segment a chunk
restarts tracking on frames already decoded (``Segment.restarts``); every chunk is encoded on its own.

A chunk's warm-up starts at a keyframe when one lies near (the decoder of a segment starting there
starts on it directly); otherwise ffmpeg decodes from the keyframe before it and drops frames up to
the warm-up's start (exact, just slower). Tracking carries state from frame to frame (the last
detection, the smoothing filter): each chunk starts ``warmup`` frames early with a fresh tracker and
writes none of those frames, so a face is already tracked and smoothed on its first written frame.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from obs_faceswap.video.probe import StreamInfo

DEFAULT_SEGMENT_FRAMES = 0  # 0: by the input's length (``auto_segment_frames``)
MIN_SEGMENT_FRAMES, MAX_SEGMENT_FRAMES, TARGET_CHUNKS = 48, 240, 16
SEGMENTS_PER_WORKER = 2  # work segments per worker: the last one to finish is not left alone for long
DEFAULT_WARMUP = 8  # > detect_every's default (3) twice, and ~the One-Euro smoother's settling time


@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first frame written
    end: int  # one past the last frame written
    warm_start: int  # first frame decoded (start - warm-up frames, never before 0)
    seek: float | None  # ffmpeg -ss value (s) that lands on ``warm_start``; None from the file's start
    # the tracking chunks after the first inside this work segment: (start, warm-up frames); at each,
    # tracking restarts on the frames already decoded, as if the chunk were a segment of its own
    restarts: tuple[tuple[int, int], ...] = ()

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


def auto_segment_frames(frames: int) -> int:
    """Tracking chunk length by the input's length alone: about ``TARGET_CHUNKS`` chunks (work for
    16 workers), never under 48 frames (the 8-frame warm-up at most a sixth of a chunk) nor over 240
    (a long video: warm-up ~3 %, and enough chunks for a cluster)."""
    return max(MIN_SEGMENT_FRAMES, min(MAX_SEGMENT_FRAMES, frames // TARGET_CHUNKS))


def plan_segments(stream: StreamInfo, segment_frames: int = DEFAULT_SEGMENT_FRAMES,
                  warmup: int = DEFAULT_WARMUP) -> list[Segment]:
    """Consecutive tracking chunks of about ``segment_frames`` frames (0: ``auto_segment_frames``)
    covering every frame once."""
    n = stream.frames
    size = max(1, int(segment_frames)) if segment_frames else auto_segment_frames(n)
    keys = stream.keyframes
    w = max(0, int(warmup))
    bounds = [0]
    while bounds[-1] + size < n:
        nominal = bounds[-1] + size
        # the decoder of a segment starting here starts at cut - warm-up: put that on a keyframe within a
        # quarter chunk when there is one (it then decodes no frame only to drop it)
        target, q = nominal - w, size // 4
        near = [k for k in keys[bisect_left(keys, target - q):bisect_right(keys, target + q)]
                if bounds[-1] < k + w < n]
        cut = min(near, key=lambda k: abs(k - target)) + w if near else nominal
        if n - cut < max(1, size // 4):  # no crumb at the end: the last segment runs a little longer
            break
        bounds.append(cut)
    bounds.append(n)
    out = []
    for idx, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        start = max(0, a - w)
        out.append(Segment(idx, a, b, start, _seek_time(stream, start)))
    return out


def group_segments(chunks: list[Segment], parts: int) -> list[Segment]:
    """The chunks as ``parts`` work segments (fewer when there are fewer chunks) of consecutive chunks,
    about as many chunks in each; each keeps its chunks' tracking restarts."""
    parts = max(1, min(int(parts), len(chunks)))
    n = len(chunks)
    cuts = [0, *(int(k * n / parts + 0.5) for k in range(1, parts)), n]  # chunks are about the same length
    groups = [chunks[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    return [Segment(i, g[0].start, g[-1].end, g[0].warm_start, g[0].seek,
                    tuple((c.start, c.warmup) for c in g[1:])) for i, g in enumerate(groups)]


def segments_for(stream: StreamInfo, workers: int, segment_frames: int = DEFAULT_SEGMENT_FRAMES,
                 warmup: int = DEFAULT_WARMUP) -> list[Segment]:
    """The work segments for ``workers``: one for a single worker (tracking restarts inside it,
    nothing decoded twice), else ``SEGMENTS_PER_WORKER`` per worker, at the same tracking chunks."""
    chunks = plan_segments(stream, segment_frames, warmup)
    return group_segments(chunks, 1 if workers <= 1 else SEGMENTS_PER_WORKER * workers)
