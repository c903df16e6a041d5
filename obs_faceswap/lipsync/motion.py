"""Mouth shapes per video frame from speech: loudness -> opening, spectral shape -> spread/rounding,
phonemes (when the speech came from text) -> closures, rounding and spreading at the right times.

Frame ``i`` shows the speech around ``i / fps`` (a window one frame long, centred there), so the
mouth and the sound line up at lag 0. Loudness is measured in dB relative to the utterance's own
speaking level (its 90th percentile), so a quiet recording opens the mouth as much as a loud one,
and anything below an absolute floor (``SILENCE_DBFS``) keeps the mouth closed: silence never opens it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obs_faceswap.lipsync.speech import Phoneme, Speech

ANALYSIS_RATE = 16000
HOP = 160  # 10 ms analysis hop
WIN = 400  # 25 ms analysis window
SILENCE_DBFS = -50.0  # frames quieter than this (RMS, dBFS) keep the mouth closed
OPEN_RANGE_DB = 26.0  # from (speaking level - this) closed to the speaking level fully open
SPREAD_GAIN = 1.4  # spectral centroid octaves above the utterance's median -> spread


@dataclass(frozen=True)
class MouthShape:
    """One frame's mouth: ``opening`` 0 (closed) .. 1 (wide "ah"), ``spread`` -1 (rounded) .. 1 (wide)."""

    opening: float = 0.0
    spread: float = 0.0


# espeak-ng phoneme names (ASCII, Kirshenbaum-like) -> (opening scale, spread); None = lips closed
_CLOSED = ("p", "b", "m")
_LABIODENTAL = ("f", "v")
_ROUND = ("u", "U", "o", "O", "w", "0", "Q", "aU", "oU", "OI", "W")
_WIDE = ("i", "I", "e", "E", "j", "eI", "aI", "s", "z", "S", "Z", "tS", "dZ", "T", "D", "3")
_OPEN = ("a", "A", "{", "V", "aa", "a#", "@", "e@")


def viseme(symbol: str) -> tuple[float, float] | None:
    """(opening scale, spread) of one phoneme; ``None`` for a bilabial closure (p, b, m)."""
    s = symbol.strip().rstrip(":;")
    if not s or s.startswith("_"):
        return (0.0, 0.0)  # pause
    if s in _CLOSED or s[0] in _CLOSED:
        return None
    if s[0] in _LABIODENTAL:
        return (0.12, 0.1)
    for names, value in ((_ROUND, (0.75, -0.8)), (_OPEN, (1.1, 0.1)), (_WIDE, (0.8, 0.6))):
        if s in names or s[:2] in names or s[0] in names:
            return value
    return (0.6, 0.0)  # other consonants: the jaw half way


def loudness_db(speech: Speech) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(times in s, RMS in dBFS) every 10 ms of ``speech``."""
    x = speech.resampled(ANALYSIS_RATE).audio.astype(np.float64)
    n = max(1, 1 + (len(x) - WIN) // HOP) if len(x) >= WIN else 1
    x = np.pad(x, (0, max(0, (n - 1) * HOP + WIN - len(x))))
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    rms = np.sqrt(np.mean(x[idx] ** 2, axis=1))
    times = (np.arange(n) * HOP + WIN / 2) / ANALYSIS_RATE
    return times, 20.0 * np.log10(np.maximum(rms, 1e-7))


def _centroid_octaves(speech: Speech) -> npt.NDArray[np.float64]:
    """log2 spectral centroid (300-4000 Hz band) every 10 ms, aligned with ``loudness_db``."""
    x = speech.resampled(ANALYSIS_RATE).audio.astype(np.float64)
    n = max(1, 1 + (len(x) - WIN) // HOP) if len(x) >= WIN else 1
    x = np.pad(x, (0, max(0, (n - 1) * HOP + WIN - len(x))))
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(WIN), axis=1)) ** 2
    f = np.fft.rfftfreq(WIN, 1.0 / ANALYSIS_RATE)
    band = (f >= 300) & (f <= 4000)
    p = spec[:, band]
    return np.log2((p * f[band]).sum(1) / np.maximum(p.sum(1), 1e-12) + 1e-6)


def _per_frame(times: np.ndarray, values: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Mean of ``values`` over a one-frame window centred on each frame time."""
    out = np.empty(n_frames)
    for i in range(n_frames):
        t = i / fps
        sel = (times >= t - 0.5 / fps) & (times < t + 0.5 / fps)
        if sel.any():
            out[i] = values[sel].mean()
        else:  # beyond the analysed audio: the nearest value
            out[i] = values[int(np.clip(np.searchsorted(times, t), 0, len(values) - 1))]
    return out


def _phoneme_at(phonemes: list[Phoneme], t: float) -> Phoneme | None:
    for p in phonemes:
        if p.start <= t < p.end:
            return p
    return None


def mouth_track(speech: Speech, fps: float, n_frames: int | None = None) -> list[MouthShape]:
    """One ``MouthShape`` per video frame for ``speech`` at ``fps`` (default: as many frames as it lasts)."""
    if n_frames is None:
        n_frames = max(1, int(np.ceil(speech.seconds * fps)))
    times, db = loudness_db(speech)
    if len(speech.audio) == 0 or db.max() < SILENCE_DBFS:
        return [MouthShape() for _ in range(n_frames)]
    level = float(np.percentile(db[db >= SILENCE_DBFS], 90))
    opening = np.clip((db - (level - OPEN_RANGE_DB)) / OPEN_RANGE_DB, 0.0, 1.0)
    opening[db < SILENCE_DBFS] = 0.0
    cent = _centroid_octaves(speech)
    voiced = opening > 0.2
    ref = float(np.median(cent[voiced])) if voiced.any() else float(np.median(cent))
    spread = np.clip((cent - ref) * SPREAD_GAIN, -1.0, 1.0) * np.minimum(1.0, opening * 3.0)
    frame_open = _per_frame(times, opening, n_frames, fps)
    frame_spread = _per_frame(times, spread, n_frames, fps)
    if speech.phonemes:
        for i in range(n_frames):
            p = _phoneme_at(speech.phonemes, i / fps)
            v = viseme(p.symbol) if p is not None else (1.0, frame_spread[i])
            if v is None:
                frame_open[i] = 0.0
            else:
                frame_open[i] = min(1.0, frame_open[i] * v[0])
                frame_spread[i] = v[1]
    # a light zero-phase smoothing: lips do not jump between frames, and no lag is introduced
    kernel = np.array([0.2, 0.6, 0.2])
    if n_frames >= 3:
        frame_open = np.convolve(np.pad(frame_open, 1, mode="edge"), kernel, "valid")
        frame_spread = np.convolve(np.pad(frame_spread, 1, mode="edge"), kernel, "valid")
    return [MouthShape(float(o), float(s)) for o, s in zip(frame_open, frame_spread, strict=True)]
