"""Lip sync on a face channel: the audio of a chosen source drives the mouth of the channel's output.

The OBS side copies the chosen audio source's samples (with their OBS timestamps) into the ``in``
ring of an ``AudioRings`` segment and names it in the face channel's settings (``lipsync_shm``).
After the swap, each frame goes through ``LiveLipSync``: the frame shown is the one from
``delay_frames`` ago with the mouth of its own audio, so picture and sound line up when the audio
is delayed by nothing and the picture by ``delay_ms`` (reported in the channel's stats).

The two streams are put on one clock by their timestamps: the first frame's timestamp is time 0
and audio before it is dropped (a gap before the first audio is filled with silence). The frame
rate is measured from the first frames' timestamps; until then frames pass through unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.vision.types import Frame

FPS_PROBE = 5  # frame intervals measured before the lip sync starts


class LipSyncFeed:
    """One face channel's lip sync: ``process(frame, timestamp_ns)`` after the swap."""

    def __init__(self, shm: str) -> None:
        self.ring = AudioRings.attach(shm)
        self.live: Any = None  # LiveLipSync, built once the frame rate is known
        self._stamps: list[int] = []
        self._t0 = 0  # timestamp (ns) of the first lip-synced frame: time 0 of both streams
        self._fed = 0  # audio samples fed so far (on that clock)

    @property
    def name(self) -> str:
        return self.ring.name

    @property
    def delay_ms(self) -> float:
        return float(self.live.delay_ms) if self.live is not None else 0.0

    def stats(self) -> dict[str, Any]:
        live = self.live
        return {"lipsync_delay_ms": round(self.delay_ms, 1), "lipsync_late": live.late if live else 0,
                "lipsync_no_face": live.no_face if live else 0, "lipsync_audio_overruns": self.ring.overruns("in")}

    def process(self, frame: Frame, timestamp_ns: int) -> Frame:
        """The frame to show now (the one from ``delay_ms`` ago, lip-synced)."""
        if self.live is None and not self._start(timestamp_ns):
            self._drain(feed=False)  # keep the ring from filling while the frame rate is measured
            return frame
        self._drain(feed=True)
        out = self.live.push_frame(frame)
        return frame if out is None else out  # while the delay fills, the newest frame is shown

    def _start(self, timestamp_ns: int) -> bool:
        self._stamps.append(int(timestamp_ns))
        if len(self._stamps) <= FPS_PROBE:
            return False
        steps = np.diff(self._stamps)
        step = float(np.median(steps))
        if step <= 0:  # no usable timestamps: measure again
            self._stamps = self._stamps[-1:]
            return False
        from obs_faceswap.lipsync.live import LiveLipSync

        self.live = LiveLipSync(self.ring.sample_rate, round(1e9 / step, 3))
        self._t0 = int(timestamp_ns)
        self._fed = 0
        return True

    def _drain(self, *, feed: bool) -> None:
        ring = self.ring
        rd, runs = ring.read_views("in")
        n = sum(c for _, c in runs)
        if n == 0:
            return
        mono = np.zeros(n, np.float32)
        for c in range(ring.channels):
            base = ring.plane_offset("in", c)
            at = 0
            for pos, count in runs:
                mono[at:at + count] += np.frombuffer(ring.segment.buf, np.float32, count, base + pos * 4)
                at += count
        mono /= ring.channels
        ts = ring.timestamp_of("in", rd)
        ring.advance("in", n)
        if feed:
            self._feed(mono, ts)

    def _feed(self, mono: np.ndarray, ts: int | None) -> None:
        rate = self.ring.sample_rate
        if ts is not None:  # where this block belongs on the frames' clock
            at = round((ts - self._t0) * rate / 1e9)
            if at > self._fed:  # a gap (or audio that starts late): silence keeps the clock
                self.live.push_audio(np.zeros(at - self._fed, np.float32))
                self._fed = at
            elif at < self._fed:  # audio before the first frame (or already covered): dropped
                mono = mono[min(len(mono), self._fed - at):]
        if len(mono):
            self.live.push_audio(mono)
            self._fed += len(mono)

    def close(self) -> None:
        self.ring.close()
