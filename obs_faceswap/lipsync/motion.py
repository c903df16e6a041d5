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

HOP_S = 0.010  # analysis hop
WIN_S = 0.025  # analysis window
SILENCE_DBFS = -50.0  # frames quieter than this (RMS, dBFS) keep the mouth closed
OPEN_RANGE_DB = 26.0  # from (speaking level - this) closed to the speaking level fully open
SPREAD_GAIN = 1.4  # spectral centroid octaves above the utterance's median -> spread
VOICED = 0.2  # openings above this count as voiced for the spectral reference
SMOOTHING = np.array([0.2, 0.6, 0.2])  # zero-phase 3-tap smoothing over frames


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


def speech_features(audio: npt.ArrayLike, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every 10 ms (25 ms windows, at the audio's own rate): (window centre times in s, RMS in dBFS,
    log2 spectral centroid of the 300-4000 Hz band)."""
    x = np.asarray(audio, np.float64)
    win, hop = max(8, round(WIN_S * rate)), max(1, round(HOP_S * rate))
    n = 1 + (len(x) - win) // hop if len(x) >= win else 1
    x = np.pad(x, (0, max(0, (n - 1) * hop + win - len(x))))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n]
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    spec = np.abs(np.fft.rfft(frames * np.hanning(win), axis=1)) ** 2
    f = np.fft.rfftfreq(win, 1.0 / rate)
    band = (f >= 300) & (f <= min(4000.0, rate / 2))
    p = spec[:, band]
    cent = np.log2((p * f[band]).sum(1) / np.maximum(p.sum(1), 1e-12) + 1e-6)
    times = (np.arange(n) * hop + win / 2) / rate
    return times, 20.0 * np.log10(np.maximum(rms, 1e-7)), cent


def opening_from_db(db: npt.NDArray[np.float64], level: float) -> npt.NDArray[np.float64]:
    """Mouth opening 0..1 from RMS dBFS values and the speaking level (dBFS); 0 below ``SILENCE_DBFS``."""
    opening = np.clip((db - (level - OPEN_RANGE_DB)) / OPEN_RANGE_DB, 0.0, 1.0)
    opening[db < SILENCE_DBFS] = 0.0
    return opening


def spread_from_centroid(cent: npt.NDArray[np.float64], ref: float,
                         opening: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Spread -1..1 from the log2 centroid relative to ``ref``; faded out as the mouth closes."""
    return np.clip((cent - ref) * SPREAD_GAIN, -1.0, 1.0) * np.minimum(1.0, opening * 3.0)  # type: ignore[no-any-return]


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
    times, db, cent = speech_features(speech.audio, speech.rate)
    if len(speech.audio) == 0 or db.max() < SILENCE_DBFS:
        return [MouthShape() for _ in range(n_frames)]
    level = float(np.percentile(db[db >= SILENCE_DBFS], 90))
    opening = opening_from_db(db, level)
    voiced = opening > VOICED
    ref = float(np.median(cent[voiced])) if voiced.any() else float(np.median(cent))
    spread = spread_from_centroid(cent, ref, opening)
    frame_open = _per_frame(times, opening, n_frames, fps)
    frame_spread = _per_frame(times, spread, n_frames, fps)
    closed = np.zeros(n_frames, bool)
    if speech.phonemes:
        for i in range(n_frames):
            p = _phoneme_at(speech.phonemes, i / fps)
            v = viseme(p.symbol) if p is not None else (1.0, frame_spread[i])
            if v is None:
                closed[i] = True
            else:
                frame_open[i] = min(1.0, frame_open[i] * v[0])
                frame_spread[i] = v[1]
        frame_open[closed] = 0.0
    # a light zero-phase smoothing: lips do not jump between frames, and no lag is introduced
    if n_frames >= 3:
        frame_open = np.convolve(np.pad(frame_open, 1, mode="edge"), SMOOTHING, "valid")
        frame_spread = np.convolve(np.pad(frame_spread, 1, mode="edge"), SMOOTHING, "valid")
    frame_open[closed] = 0.0  # p, b, m: the lips meet, however short the closure
    return [MouthShape(float(o), float(s)) for o, s in zip(frame_open, frame_spread, strict=True)]
