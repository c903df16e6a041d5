"""DSP voice: pitch and formant shift with the WORLD vocoder (pyworld), no model weights.

Analysis at 16 kHz: ``dio`` for F0 over the whole window, then ``stonemask``, ``cheaptrick``
(spectral envelope) and the aperiodicity only at the frames whose output is kept (plus a margin),
which is what makes 20 ms blocks affordable. Aperiodicity: WORLD's ``d4c`` for blocks of 40 ms and
more; below that a voicing-based model (periodic below 4 kHz, noisier above) at half the cost. Pitch multiplies F0 by 2^(st/12); formant warps the
envelope along frequency by 2^(st/12) (positive = formants up = smaller, brighter voice) and leaves
F0 alone. ``synthesize`` rebuilds the waveform.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyworld as pw

if TYPE_CHECKING:
    from obs_faceswap.voice.options import VoiceOptions

RATE = 16000
FRAME_MS = 5.0
HOP = int(RATE * FRAME_MS / 1000)  # 80 samples per WORLD frame
F0_FLOOR = 70.0
F0_CEIL = 800.0
FFT_SIZE = 1024  # cheaptrick's size for F0_FLOOR at 16 kHz
MARGIN_FRAMES = 2  # frames analysed on each side of the kept region (synthesis settles)
SILENCE_RMS = 1e-5
D4C_MIN_BLOCK_MS = 40.0
MAX_GAIN = 2.0  # loudness matching stays within +-6 dB


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


class LoudnessMatch:
    """Keeps the converted voice as loud as the input.

    WORLD's output level depends on the shift (measured on speech: formants +4 st about +1.5 dB, -4 st
    -0.6 dB, pitch +4 st +0.5 dB), so without this the voice would get louder or quieter with the
    sliders. The gain is the ratio of input to output energy, both averaged over the last ~0.5 s of
    sound: it corrects the level without flattening the voice's own dynamics (a per-block match would
    make every syllable equally loud). Silence does not move it; it stays within +-6 dB.
    """

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds
        self.e_in = 0.0
        self.e_out = 0.0

    def gain(self, reference: np.ndarray, synthesized: np.ndarray) -> float:
        """Update with one stretch of input (``reference``) and its conversion; the gain for it."""
        e_ref = float(np.mean(np.square(reference, dtype=np.float64)))
        e_syn = float(np.mean(np.square(synthesized, dtype=np.float64)))
        if e_ref >= SILENCE_RMS ** 2 and e_syn >= SILENCE_RMS ** 2:
            keep = float(np.exp(-len(reference) / (self.seconds * RATE)))
            self.e_in = keep * self.e_in + (1.0 - keep) * e_ref
            self.e_out = keep * self.e_out + (1.0 - keep) * e_syn
        if self.e_out <= 0.0 or self.e_in <= 0.0:
            return 1.0
        return float(np.clip(np.sqrt(self.e_in / self.e_out), 1.0 / MAX_GAIN, MAX_GAIN))


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
        self.loudness = LoudnessMatch()
        self.set_shift(pitch, formant)

    @classmethod
    def from_options(cls, options: VoiceOptions) -> WorldVoice:
        # D4C aperiodicity costs as much as the rest of the analysis: small (live) blocks use a voicing-based
        # model instead, blocks of 40 ms and more can afford it
        ap = "d4c" if options.block_ms >= D4C_MIN_BLOCK_MS else "simple"
        return cls(options.pitch, options.formant, aperiodicity=ap)

    def set_shift(self, pitch: float, formant: float) -> None:
        self.pitch = float(pitch)
        self.formant = float(formant)

    def update(self, options: VoiceOptions) -> None:
        """Live change, used from the next window on; the stream's SOLA crossfade (sin², ``crossfade_ms``)
        joins the last window at the old shift to the first at the new one, so the change does not click."""
        self.set_shift(options.pitch, options.formant)

    def is_identity(self) -> bool:
        return self.pitch == 0.0 and self.formant == 0.0

    def transform(self, f0: np.ndarray, sp: np.ndarray, ap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The voice change on WORLD features (F0 per frame, envelope and aperiodicity frames x bins):
        here the pitch and formant shift; the embedded clone (``clone.CloneVoice``) maps to a reference."""
        pitch, formant = self.pitch, self.formant  # read once: update() may run on another thread
        factor = 2.0 ** (formant / 12.0)
        sp = warp_envelope(sp, factor)
        ap = np.clip(warp_envelope(ap, factor), 0.0, 1.0)
        return np.ascontiguousarray(f0 * 2.0 ** (pitch / 12.0)), sp, ap

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
        f0, sp, ap = self.transform(f0, sp, ap)
        y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), RATE, FRAME_MS)
        begin = first * HOP
        m = min(len(y), n - begin)
        out[begin: begin + m] = y[:m]
        # level measured on the stretch that is kept (the margins are still settling)
        lo, hi = max(begin, keep_from), min(begin + m, keep_to)
        if hi - lo >= HOP:
            out[begin: begin + m] *= self.loudness.gain(x[lo:hi], out[lo:hi])
        return out
