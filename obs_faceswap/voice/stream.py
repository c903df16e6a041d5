"""Fixed-block SOLA streaming (the scheme RVC, seed-vc and w-okada share), stateless resampling.

Per block of ``B`` device samples the stream keeps a sliding window

    | left context X | block B | crossfade C | search S | right context R |   (oldest ... newest)

runs the converter on the whole window (resampled to the converter's rate with
``scipy.signal.resample_poly`` on the window itself: a stateful streaming resampler would add its
own 6-75 ms of delay), takes the ``B + C + S`` converted samples that end ``R`` before the window
end, finds the offset in ``[0, S]`` whose next ``C`` samples best match the tail saved from the
previous block (normalised cross-correlation), crossfades that tail in with sin² ramps that sum to
1, emits ``B`` samples, and saves the following ``C`` samples as the next tail.

Delay of ``process_block`` (content in -> same content out, in samples): ``C + S - offset + R``;
``nominal_delay`` uses the middle offset ``S // 2``, which a time-invariant converter keeps for ever.
A converter that changes phase (a vocoder, a neural model) makes the offset, and so the delay, move
within ``[C + R, C + S + R]``: that jitter is what lets SOLA join blocks without clicks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np
from scipy.signal import firwin, resample_poly

from obs_faceswap.voice.backends import Converter

SEARCH_MS = 10.0  # SOLA offset search range (covers one pitch period down to 100 Hz)


def ms_to_samples(ms: float, rate: int) -> int:
    return int(round(ms * rate / 1000.0))


@dataclass(frozen=True)
class StreamLayout:
    """Sizes in device samples."""

    sample_rate: int
    block: int
    crossfade: int
    search: int
    left: int
    right: int

    @classmethod
    def from_ms(cls, sample_rate: int, block_ms: float, crossfade_ms: float, context_ms: float,
                right_ms: float, search_ms: float = SEARCH_MS) -> StreamLayout:
        block = max(1, ms_to_samples(block_ms, sample_rate))
        crossfade = max(1, min(block, ms_to_samples(crossfade_ms, sample_rate)))
        return cls(sample_rate, block, crossfade, max(0, ms_to_samples(search_ms, sample_rate)),
                   max(0, ms_to_samples(context_ms, sample_rate)), max(0, ms_to_samples(right_ms, sample_rate)))

    @property
    def window(self) -> int:
        return self.left + self.block + self.crossfade + self.search + self.right

    @property
    def nominal_offset(self) -> int:
        return self.search // 2

    @property
    def nominal_delay(self) -> int:
        """Delay of ``BlockStream.process_block`` in samples (see the module docstring)."""
        return self.crossfade + self.search - self.nominal_offset + self.right


def sin2_ramps(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) of length ``n``: sin² and cos² of a quarter period; they sum to 1."""
    phase = (np.arange(n, dtype=np.float64) + 0.5) / n * (np.pi / 2)
    fade_in = np.sin(phase) ** 2
    return fade_in.astype(np.float32), (1.0 - fade_in).astype(np.float32)


@lru_cache(maxsize=32)
def _lowpass(up: int, down: int) -> np.ndarray:
    """resample_poly's own default filter, designed once per rate pair instead of on every call."""
    rate = max(up, down)
    return firwin(2 * 10 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)).astype(np.float32)


def resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Stateless polyphase resampling of a whole array (zero-phase: no time shift)."""
    if src == dst:
        return np.asarray(x, dtype=np.float32)
    g = gcd(int(src), int(dst))
    up, down = dst // g, src // g
    return resample_poly(np.asarray(x, dtype=np.float32), up, down, window=_lowpass(up, down)).astype(np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad at the end to ``n`` samples."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), dtype=x.dtype)])


def sola_offset(segment: np.ndarray, tail: np.ndarray, search: int, nominal: int) -> int:
    """Offset in ``[0, search]`` where ``segment`` best continues ``tail`` (normalised cross-correlation).

    Silence (no energy in the tail or the candidates) and exact ties keep ``nominal``.
    """
    c = len(tail)
    cand = segment[: c + search].astype(np.float64)
    t = tail.astype(np.float64)
    tail_energy = float(np.dot(t, t))
    if search <= 0 or tail_energy < 1e-12:
        return nominal
    num = np.correlate(cand, t, mode="valid")  # search + 1 values
    sq = np.concatenate([[0.0], np.cumsum(cand * cand)])
    energy = sq[c:] - sq[:-c]
    if float(energy.max()) < 1e-12:
        return nominal
    score = num / np.sqrt(np.maximum(energy, 1e-12) * tail_energy)
    best = int(np.argmax(score))
    if score[nominal] >= score[best] - 1e-6:
        return nominal
    return best


class BlockStream:
    """Converts a mono stream block by block with SOLA; ``process_block`` takes and returns ``block`` samples."""

    def __init__(self, converter: Converter, layout: StreamLayout) -> None:
        self.converter = converter
        self.layout = layout
        self.fade_in, self.fade_out = sin2_ramps(layout.crossfade)
        self.history = np.zeros(layout.window, dtype=np.float32)
        self.tail: np.ndarray | None = None
        self.last_offset = layout.nominal_offset

    def reset(self) -> None:
        self.history[:] = 0.0
        self.tail = None
        self.last_offset = self.layout.nominal_offset

    def push(self, block: np.ndarray) -> None:
        """Slide the window by one block without converting (the output is not needed)."""
        b = self.layout.block
        self.history[:-b] = self.history[b:]
        self.history[-b:] = block
        self.tail = None  # the next converted block starts fresh (callers fade it in)

    def convert_window(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        """Run the converter on a device-rate window; device-rate output of the same length."""
        conv = self.converter
        sr = self.layout.sample_rate
        if conv.is_identity():
            return window
        x = resample(window, sr, conv.input_rate)
        keep = int(keep_from * conv.input_rate // sr)
        y = fit_length(resample(conv.convert(x, keep), conv.output_rate, sr), len(window))
        if getattr(conv, "passes_high_band", False) and conv.input_rate < sr:
            # add back what the converter's rate cannot carry: the input minus its own round trip through
            # that rate (zero-phase and exactly complementary, so an identity converter would give the input)
            y = y + (window - fit_length(resample(x, conv.input_rate, sr), len(window)))
        return y

    def process_block(self, block: np.ndarray) -> np.ndarray:
        lay = self.layout
        b, c, s, r = lay.block, lay.crossfade, lay.search, lay.right
        if len(block) != b:
            raise ValueError(f"BlockStream takes blocks of {b} samples, got {len(block)}")
        self.history[:-b] = self.history[b:]
        self.history[-b:] = block
        w = lay.window
        start = w - r - (b + c + s)
        y = self.convert_window(self.history, start)
        seg = y[start: w - r]
        off = lay.nominal_offset if self.tail is None else sola_offset(seg, self.tail, s, lay.nominal_offset)
        self.last_offset = off
        out = np.array(seg[off: off + b], dtype=np.float32)
        if self.tail is not None:
            out[:c] = out[:c] * self.fade_in + self.tail * self.fade_out
        self.tail = np.array(seg[off + b: off + b + c], dtype=np.float32)
        return out

    def convert_whole(self, audio: np.ndarray) -> np.ndarray:
        """The converter applied to a whole recording at once (no blocks, no delay): the reference
        the streamed output approximates. Silence is appended as the converter's right context."""
        x = np.asarray(audio, dtype=np.float32)
        padded = np.concatenate([x, np.zeros(self.layout.right, dtype=np.float32)])
        return self.convert_window(padded, 0)[: len(x)]
