"""Lip sync on a face channel: the audio of a chosen source drives the mouth of the channel's output.

The OBS side copies the chosen audio source's samples (stamped as they arrive) into the ``in``
ring of an ``AudioRings`` segment and names it in the face channel's settings (``lipsync_shm``).
After the swap, each frame goes through ``LiveLipSync.push_frame_at`` with its own timestamp: the
frame shown is the newest one whose mouth shape (``SHAPE_FPS`` shapes a second, known
``latency_s`` after their time) is ready, drawn with that shape. So the picture is held back by the
look-ahead plus however late the audio arrives, at most ``MAX_HOLD_S``, in whole frames as they
arrive; the measured hold is ``delay_ms`` in the channel's stats and the filter's status line. Frames the worker drops while busy do not matter:
every frame is placed by its timestamp.

The two streams are put on one clock by their timestamps: the first frame's timestamp is time 0,
audio before it is dropped and a gap in the audio is filled with silence (mouth closed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from obs_faceswap.ipc.audio import AudioRings
from obs_faceswap.vision.types import Frame

SHAPE_FPS = 30.0  # mouth shapes per second of audio (each frame takes the one nearest its time)
MAX_HOLD_S = 0.5  # frames wait this long at most for their sound (a busy audio thread, a slow worker)
MAX_GAP_S = 2.0  # a jump in the audio timestamps longer than this restarts the clocks


class LipSyncFeed:
    """One face channel's lip sync: ``process(frame, timestamp_ns)`` after the swap."""

    def __init__(self, shm: str) -> None:
        self.ring = AudioRings.attach(shm)
        self.live: Any = None  # LiveLipSync, built at the first frame
        self.delay_ms = 0.0  # how long frames are held back (moving average): the delay to show
        self._shown: Frame | None = None  # the last lip-synced frame (shown again while none is ready)
        self.audio_lag_ms = 0.0  # how far the audio's end is behind each frame's time as it arrives (average)
        self._t0 = 0  # timestamp (ns) of the first lip-synced frame: time 0 of both streams
        self._fed = 0  # audio samples fed so far (on that clock)

    @property
    def name(self) -> str:
        return self.ring.name

    def stats(self) -> dict[str, Any]:
        live = self.live
        return {"lipsync_delay_ms": round(self.delay_ms, 1), "lipsync_late": live.late if live else 0,
                "lipsync_audio_lag_ms": round(self.audio_lag_ms, 1),
                "lipsync_look_ahead_ms": round(1000.0 * live.mouth.latency_s, 1) if live else 0.0,
                "lipsync_no_face": live.no_face if live else 0, "lipsync_audio_overruns": self.ring.overruns("in")}

    def process(self, frame: Frame, timestamp_ns: int) -> Frame:
        """The frame to show now: the newest one whose mouth is known, lip-synced (the last one shown
        while none is; this one before the first)."""
        if self.live is None:
            from obs_faceswap.lipsync.live import LiveLipSync

            self.live = LiveLipSync(self.ring.sample_rate, SHAPE_FPS)
            self._t0, self._fed = int(timestamp_ns), 0
        self._drain()
        if self.live is None:  # the audio's clock jumped: start again at the next frame
            self._shown = None
            return frame
        lag = (int(timestamp_ns) - self._t0) / 1e6 - 1000.0 * self._fed / self.ring.sample_rate
        self.audio_lag_ms += 0.1 * (lag - self.audio_lag_ms)
        out = self.live.push_frame_at(frame, (int(timestamp_ns) - self._t0) / 1e9, MAX_HOLD_S)
        if out is None:  # nothing ready: the last one again (never a newer, unsynced frame in between)
            return frame if self._shown is None else self._shown.copy()
        self._shown = out
        self.delay_ms += 0.1 * (self.live.held_ms - self.delay_ms) if self.delay_ms else self.live.held_ms
        return out

    def _drain(self) -> None:
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
        self._feed(mono, ts)

    def _feed(self, mono: np.ndarray, ts: int | None) -> None:
        rate = self.ring.sample_rate
        if ts is not None:  # where this block belongs on the frames' clock
            at = round((ts - self._t0) * rate / 1e9)
            gap = MAX_GAP_S * rate
            if at - self._fed > gap or at + len(mono) < self._fed - gap:
                # the source's clock jumped (a media source looping or seeking, a restart): start again
                self.live = None
                return
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
