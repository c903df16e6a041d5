"""Live lip sync, transport-free: frames and audio in as they arrive, frames out delayed by the look-ahead.

Frame ``j`` belongs at time ``j / fps`` of the same clock as the audio (sample ``n`` at ``n / rate``;
the caller aligns the two streams' starts, e.g. from OBS timestamps). Its mouth shape is known only
``StreamingMouth.latency_s`` later, so the video is held back by ``delay_frames`` (that latency
rounded up to whole frames): ``push_frame`` returns the frame from ``delay_frames`` frames ago,
drawn with its own mouth shape. When the audio falls behind (a gap in the feed), the newest shape
is used and the frame is counted as ``late``; no frame is ever held longer than the delay.

A live source whose frames arrive unevenly (a worker that drops frames while busy) uses
``push_frame_at`` instead: each frame carries its own time, is drawn with the shape of that time
once it is known, and the measured hold (``held_ms``) is the delay to show.

This is the engine a live filter runs (the OBS Face Swap filter's "Lip sync", through the worker's
``lipsync_feed``); it does not know where frames and audio come from.
"""

from __future__ import annotations

import math
from collections import deque

import numpy.typing as npt

from obs_faceswap.lipsync.embedded import EmbeddedLipSync, MouthRig
from obs_faceswap.lipsync.motion import MouthShape
from obs_faceswap.lipsync.stream import StreamingMouth
from obs_faceswap.vision.types import Face, Frame


class LiveLipSync:
    """Frames and audio in, lip-synced frames out ``delay_frames`` later.

    ``still=True`` (an avatar photo fed as every frame) builds the face rig once; otherwise the face
    is tracked and its rig rebuilt per frame.
    """

    def __init__(self, rate: int, fps: float, *, sync: EmbeddedLipSync | None = None, still: bool = False) -> None:
        self.mouth = StreamingMouth(rate, fps)
        self.fps = float(fps)
        self.sync = sync or EmbeddedLipSync()
        self.still = still
        self.delay_frames = max(1, math.ceil(self.mouth.latency_s * self.fps - 1e-9))
        self.shapes: dict[int, MouthShape] = {}
        self.frames: deque[tuple[int, Frame]] = deque()
        self.timed: deque[tuple[float, Frame]] = deque()  # push_frame_at's queue: (time s, frame)
        self.held_ms = 0.0  # push_frame_at: how long the last frame shown was held back
        self.skipped = 0  # push_frame_at: frames passed over for a newer ready one
        self.next_in = 0  # index of the next frame pushed
        self.late = 0  # frames drawn with an older shape than their own (audio behind)
        self.no_face = 0
        self._face: Face | None = None
        self._rig: MouthRig | None = None

    @property
    def delay_ms(self) -> float:
        """How much later than its capture each frame is shown (the delay to display)."""
        return 1000.0 * self.delay_frames / self.fps

    def push_audio(self, block: npt.ArrayLike) -> None:
        """Mono samples, in order, on the frames' clock."""
        first = self.mouth.emitted  # shapes come out in frame order, numbered from here
        for k, shape in enumerate(self.mouth.push(block)):
            self.shapes[first + k] = shape

    def push_frame(self, frame: Frame) -> Frame | None:
        """Queue ``frame``; return the lip-synced frame from ``delay_frames`` ago (None while filling up)."""
        self.frames.append((self.next_in, frame))
        self.next_in += 1
        if len(self.frames) <= self.delay_frames:
            return None
        j, old = self.frames.popleft()
        return self._draw(j, old)

    def push_frame_at(self, frame: Frame, t: float, max_hold_s: float | None = None) -> Frame | None:
        """Queue ``frame`` taken at ``t`` seconds (the audio's clock); return the newest queued frame
        whose mouth shape is known, drawn with it (older ready ones are skipped), or None while none
        is. A frame is never held longer than ``max_hold_s`` (default: the look-ahead plus one frame;
        more where the audio itself arrives late, as OBS's does): if the audio is that far behind, it
        is drawn with the newest shape (counted in ``late``)."""
        hold = self.mouth.latency_s + 1.0 / self.fps if max_hold_s is None else max_hold_s
        self.timed.append((float(t), frame))
        ready: tuple[float, Frame] | None = None
        while self.timed and round(self.timed[0][0] * self.fps) < self.mouth.emitted:
            if ready is not None:
                self.skipped += 1
            ready = self.timed.popleft()
        while self.timed and t - self.timed[0][0] > hold:
            if ready is not None:
                self.skipped += 1
            ready = self.timed.popleft()
        if ready is None:
            return None
        self.held_ms = 1000.0 * (t - ready[0])
        return self._draw(max(0, round(ready[0] * self.fps)), ready[1])

    def _shape(self, j: int) -> MouthShape:
        shape = self.shapes.get(j)
        if shape is None:
            self.late += 1
            ready = [k for k in self.shapes if k < j]
            shape = self.shapes[max(ready)] if ready else MouthShape()
        for k in [k for k in self.shapes if k < j - 2]:  # keep the lookup small
            del self.shapes[k]
        return shape

    def _draw(self, j: int, frame: Frame) -> Frame:
        shape = self._shape(j)
        if not (self.still and self._rig is not None):
            self._face = self.sync.face(frame, self._face)
            if self._face is None:
                self.no_face += 1
                self._rig = None
                return frame
            self._rig = self.sync.rig(frame, self._face)
        return self.sync.render(frame, self._rig, shape)
