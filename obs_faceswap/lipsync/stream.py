"""Mouth shapes from an audio stream, causally, for live lip sync.

The same features and mappings as the file path (``motion``: 25 ms windows every 10 ms, loudness
-> opening, spectral centroid -> spread, the 3-tap smoothing), computed as audio arrives. Frame
``i`` (time ``i / fps``) needs the audio up to ``i / fps + half a frame + half an analysis window``
and, for the smoothing, the next frame too: so each shape is ready ``latency_s`` after its frame
time. That is the look-ahead a live video must be delayed by so that mouth and sound line up.

The speaking level cannot be known ahead in a stream: a peak tracker stands in for the file's
90th percentile (it follows a louder voice at once and forgets ``LEVEL_DECAY_DB_S`` per second),
and the spectral reference is a running mean of the voiced frames' centroids.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from obs_faceswap.lipsync.motion import (
    SILENCE_DBFS,
    SMOOTHING,
    VOICED,
    WIN_S,
    MouthShape,
    opening_from_db,
    speech_features,
    spread_from_centroid,
)

LEVEL_START_DBFS = -24.0  # assumed speaking level before any speech was heard
LEVEL_DECAY_DB_S = 4.0  # the tracked speaking level falls this fast in quiet passages
PEAK_TO_LEVEL_DB = 3.0  # the 90th percentile sits about this far below the peaks
REF_RATE = 0.05  # share of each voiced frame's centroid taken into the running reference


class StreamingMouth:
    """Audio blocks in (``push``), one ``MouthShape`` per video frame out, in order."""

    def __init__(self, rate: int, fps: float) -> None:
        if rate < 4000 or fps <= 0:
            raise ValueError("StreamingMouth needs a sample rate of at least 4000 Hz and fps > 0")
        self.rate, self.fps = int(rate), float(fps)
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  # stream sample index of buf[0]
        self.received = 0  # samples pushed so far
        self.next_frame = 0  # next frame to analyse
        self.emitted = 0  # shapes returned so far
        self.peak = LEVEL_START_DBFS + PEAK_TO_LEVEL_DB
        self.ref: float | None = None
        self.raw: list[tuple[float, float]] = []  # analysed frames from raw0 on: (opening, spread)
        self.raw0 = 0

    @property
    def reach_s(self) -> float:
        """How far past a frame's time its analysis needs audio."""
        return 0.5 / self.fps + WIN_S / 2.0

    @property
    def latency_s(self) -> float:
        """Seconds between a frame's time and its shape being ready (the look-ahead): the analysis
        reach plus one frame for the smoothing."""
        return self.reach_s + 1.0 / self.fps

    def push(self, block: npt.ArrayLike) -> list[MouthShape]:
        """Add mono samples; return the shapes of every frame that became ready (frame ``emitted`` first)."""
        x = np.asarray(block, np.float32).reshape(-1)
        self.buf = np.concatenate([self.buf, x])
        self.received += len(x)
        while (self.next_frame / self.fps + self.reach_s) * self.rate <= self.received:
            self.raw.append(self._analyse(self.next_frame))
            self.next_frame += 1
        out = self._smooth(final=False)
        keep_from = int(max(0.0, (self.next_frame / self.fps - self.reach_s) * self.rate)) - 1
        if keep_from > self.buf_start:
            self.buf = self.buf[keep_from - self.buf_start:]
            self.buf_start = keep_from
        return out

    def flush(self) -> list[MouthShape]:
        """The shapes still held back for the smoothing (end of the stream)."""
        return self._smooth(final=True)

    def _analyse(self, i: int) -> tuple[float, float]:
        t = i / self.fps
        a = int(round((t - self.reach_s) * self.rate)) - self.buf_start
        b = int(round((t + self.reach_s) * self.rate)) - self.buf_start
        seg = self.buf[max(0, a): max(0, b)]
        if a < 0:  # before the stream began: silence
            seg = np.concatenate([np.zeros(-a, np.float32), seg])
        times, db, cent = speech_features(seg, self.rate)
        sel = np.abs(times - self.reach_s) <= 0.5 / self.fps
        if not sel.any():
            sel = np.ones(len(times), bool)
        db, cent = db[sel], cent[sel]
        loud = float(db.max())
        self.peak = max(self.peak - LEVEL_DECAY_DB_S / self.fps, loud if loud >= SILENCE_DBFS else -np.inf)
        opening = opening_from_db(db, self.peak - PEAK_TO_LEVEL_DB)
        voiced = opening > VOICED
        if voiced.any():
            c = float(cent[voiced].mean())
            self.ref = c if self.ref is None else self.ref + REF_RATE * (c - self.ref)
        spread = spread_from_centroid(cent, self.ref if self.ref is not None else float(cent.mean()), opening)
        return float(opening.mean()), float(spread.mean())

    def _smooth(self, *, final: bool) -> list[MouthShape]:
        out = []
        end = self.raw0 + len(self.raw)  # frames analysed so far
        last = end if final else end - 1  # frame k needs k + 1 unless the stream ended
        for k in range(self.emitted, last):
            prev = self.raw[max(0, k - 1 - self.raw0)]
            cur = self.raw[k - self.raw0]
            nxt = self.raw[min(end - 1, k + 1) - self.raw0]
            o, s = (SMOOTHING[0] * prev[j] + SMOOTHING[1] * cur[j] + SMOOTHING[2] * nxt[j] for j in (0, 1))
            out.append(MouthShape(float(o), float(s)))
        self.emitted = max(self.emitted, last)
        drop = self.emitted - 1 - self.raw0  # keep the last emitted frame: the next one's "previous"
        if drop > 0:
            del self.raw[:drop]
            self.raw0 += drop
        return out
