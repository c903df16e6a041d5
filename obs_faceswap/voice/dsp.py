"""DSP voice: pitch and formant shift with the WORLD vocoder (pyworld), no model weights.

Analysis at 16 kHz: ``dio`` for F0 over the whole window, then ``stonemask``, ``cheaptrick``
(spectral envelope) and the aperiodicity only at the frames whose output is kept (plus a margin),
which is what makes 20 ms blocks affordable. Aperiodicity: WORLD's ``d4c`` for blocks of 40 ms and
more; below that a voicing-based model (periodic below 4 kHz, noisier above) at half the cost. Pitch multiplies F0 by 2^(st/12); formant warps the
envelope along frequency by 2^(st/12) (positive = formants up = smaller, brighter voice) and leaves
F0 alone. ``synthesize`` rebuilds the waveform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyworld as pw

RATE = 16000
FRAME_MS = 5.0
HOP = int(RATE * FRAME_MS / 1000)  # 80 samples per WORLD frame
F0_FLOOR = 70.0
F0_CEIL = 800.0
FFT_SIZE = 1024  # cheaptrick's size for F0_FLOOR at 16 kHz
MARGIN_FRAMES = 2  # frames analysed on each side of the kept region (synthesis settles)
SILENCE_RMS = 1e-5
D4C_MIN_BLOCK_MS = 40.0


def warp_envelope(env: np.ndarray, factor: float) -> np.ndarray:
    """Move spectral features of ``env`` (frames x bins) up in frequency by ``factor``:
    out[f] = env[f / factor] (linear interpolation, last bin held beyond the top)."""
    if abs(factor - 1.0) < 1e-6:
        return env
    bins = env.shape[1]
    src = np.arange(bins, dtype=np.float64) / factor
    src = np.clip(src, 0.0, bins - 1.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    return np.ascontiguousarray(env[:, lo] * (1.0 - frac) + env[:, hi] * frac)


def simple_aperiodicity(f0: np.ndarray, bins: int) -> np.ndarray:
    """Cheap aperiodicity: voiced frames periodic below ~4 kHz rising to noisy at 8 kHz, unvoiced noisy."""
    freqs = np.linspace(0.0, RATE / 2, bins)
    voiced = np.clip((freqs - 4000.0) / 4000.0, 0.0, 1.0) ** 2 * 0.9 + 0.001
    ap = np.where(f0[:, None] > 0, voiced[None, :], 0.999)
    return np.ascontiguousarray(ap)


class WorldVoice:
    """``Converter`` shifting pitch and formants with WORLD at 16 kHz."""

    input_rate = RATE
    output_rate = RATE
    right_context_ms = 30.0  # dio/cheaptrick need ~30 ms after a frame to get it right
    min_left_context_ms = 100.0  # dio's F0 tracking is unstable with less history
    passes_high_band = True  # the stream adds the input above 8 kHz (fricatives, air) back unchanged

    def __init__(self, pitch: float = 0.0, formant: float = 0.0, *, aperiodicity: str = "d4c") -> None:
        self.pitch = 0.0
        self.formant = 0.0
        self.aperiodicity = aperiodicity
        self.set_shift(pitch, formant)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WorldVoice:
        # D4C aperiodicity costs as much as the rest of the analysis: small (live) blocks use a voicing-based
        # model instead, blocks of 40 ms and more can afford it
        ap = "d4c" if float(settings.get("block_ms", 20)) >= D4C_MIN_BLOCK_MS else "simple"
        return cls(float(settings.get("pitch", 0.0)), float(settings.get("formant", 0.0)), aperiodicity=ap)

    def set_shift(self, pitch: float, formant: float) -> None:
        self.pitch = float(pitch)
        self.formant = float(formant)

    def update(self, settings: Mapping[str, Any]) -> None:
        self.set_shift(float(settings.get("pitch", self.pitch)), float(settings.get("formant", self.formant)))

    def is_identity(self) -> bool:
        return self.pitch == 0.0 and self.formant == 0.0

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        n = len(window)
        x = np.ascontiguousarray(window, dtype=np.float64)
        out = np.zeros(n, dtype=np.float32)
        if n < 4 * HOP or float(np.sqrt(np.mean(x * x))) < SILENCE_RMS:
            return out
        f0, times = pw.dio(x, RATE, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
        # only frames whose output is kept (plus margins) are refined, analysed and synthesised
        first = max(0, keep_from // HOP - MARGIN_FRAMES)
        keep_to = n - int(self.right_context_ms * RATE / 1000)
        last = min(len(f0), keep_to // HOP + 1 + MARGIN_FRAMES)
        f0 = np.ascontiguousarray(f0[first:last])
        times = np.ascontiguousarray(times[first:last])
        f0 = pw.stonemask(x, f0, times, RATE)
        sp = pw.cheaptrick(x, f0, times, RATE, f0_floor=F0_FLOOR, fft_size=FFT_SIZE)
        if self.aperiodicity == "d4c":
            ap = pw.d4c(x, f0, times, RATE, fft_size=FFT_SIZE)
        else:
            ap = simple_aperiodicity(f0, sp.shape[1])
        factor = 2.0 ** (self.formant / 12.0)
        sp = warp_envelope(sp, factor)
        ap = np.clip(warp_envelope(ap, factor), 0.0, 1.0)
        f0 = np.ascontiguousarray(f0 * 2.0 ** (self.pitch / 12.0))
        y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), RATE, FRAME_MS)
        begin = first * HOP
        m = min(len(y), n - begin)
        out[begin: begin + m] = y[:m]
        return out
