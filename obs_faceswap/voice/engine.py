"""``VoiceEngine``: any number of samples in, the same number out, at a fixed delay.

Input is cut into fixed blocks (``block_ms``) in a FIFO; each full block is converted by the SOLA
``BlockStream`` and mixed with the dry signal delayed by exactly the same amount; output comes from a
FIFO primed with one block of silence, so every ``process(n)`` call can return ``n`` samples whatever
``n`` is. Total delay: ``latency_samples = block + stream.nominal_delay`` (silence while it warms up).

Noise gate: decided on each input block, applied to the output. The output lags the input by at least
``crossfade + right context``, so the gate opens (a 5 ms attack) before the first sample of a word
reaches the output: onsets are never chopped. It closes 150 ms after the last loud block, over one block.

Limiter: a vocoder or a model rebuilds the waveform, so its peaks are not the input's: a microphone
driven into clipping (flat-topped, loud) comes out with peaks 2-3x over full scale. The converted voice
goes through a peak limiter (-1 dBFS ceiling, instant attack, 150 ms release) before the dry/wet mix;
the dry signal is never touched.

Channels: the converter runs on the mean of the channels; each output channel gets the converted
voice at that channel's own level (a microphone on the left channel only stays on the left, at its
level, instead of dropping 6 dB and spreading to both sides).

Live settings (pitch, formant, mix, gate, enabled) apply at the next block (mix with a one-block
ramp, pitch/formant crossfaded by SOLA); block/crossfade/context/backend/model changes rebuild the
stream (delay may change).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from obs_faceswap.voice.backends import RELOAD_KEYS, Converter, make_converter
from obs_faceswap.voice.options import VoiceOptions
from obs_faceswap.voice.stream import BlockStream, StreamLayout, ms_to_samples, sin2_ramps

STREAM_KEYS: tuple[str, ...] = ("block_ms", "crossfade_ms", "context_ms")
GATE_HOLD_MS = 150.0  # keep the gate open this long after the last loud block
GATE_ATTACK_MS = 5.0  # opening ramp, placed to end before the onset reaches the output
GATE_OFF_DB = -100.0  # the setting's minimum turns the gate off
CHANNEL_SMOOTHING = 0.8  # per-block smoothing of the per-channel level estimates (~100 ms at 20 ms blocks)
MAX_CHANNEL_GAIN = 4.0
LIMIT_CEILING = 10.0 ** (-1.0 / 20.0)  # converted voice peaks stay below -1 dBFS
LIMIT_ATTACK_MS = 1.0
LIMIT_RELEASE_MS = 150.0


class _Fifo:
    """A growable (channels, n) sample FIFO."""

    def __init__(self, channels: int) -> None:
        self.buf = np.zeros((channels, 0), dtype=np.float32)

    def __len__(self) -> int:
        return self.buf.shape[1]

    def push(self, x: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, x], axis=1) if self.buf.shape[1] else np.array(x, dtype=np.float32)

    def pop(self, n: int) -> np.ndarray:
        out, self.buf = self.buf[:, :n], self.buf[:, n:]
        return out


class VoiceEngine:
    """Streaming voice conversion with a fixed delay (see the module docstring)."""

    def __init__(self, options: VoiceOptions, sample_rate: int, channels: int = 1, *,
                 converter: Converter | None = None) -> None:
        """``options`` come validated from a boundary (``VoiceOptions.from_settings``); nothing here checks them
        again. ``converter``: a fixed converter (a file's, or a test's) that setting changes never replace."""
        if sample_rate < 8000 or sample_rate > 384000:
            raise ValueError(f"unsupported sample rate {sample_rate}")
        if channels < 1:
            raise ValueError("channels must be >= 1")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self._fixed_converter = converter
        self.options = options
        self.converter = converter if converter is not None else make_converter(options)
        self._build_stream()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], sample_rate: int, channels: int = 1, *,
                      converter: Converter | None = None) -> VoiceEngine:
        """Validate raw setting values (a boundary: scripts, benches, tests) and build the engine."""
        return cls(VoiceOptions.from_settings(settings), sample_rate, channels, converter=converter)

    @property
    def settings(self) -> dict[str, Any]:
        """The current options as raw setting values (percent as shown in panels and flags)."""
        return self.options.as_settings()

    # ------------------------------------------------------------------ configuration
    def _build_stream(self) -> None:
        o = self.options
        left_ms = max(float(o.context_ms), float(getattr(self.converter, "min_left_context_ms", 0.0)))
        block_ms = max(float(o.block_ms), float(getattr(self.converter, "min_block_ms", 0.0)))
        layout = StreamLayout.from_ms(self.sample_rate, block_ms, o.crossfade_ms, left_ms,
                                      self.converter.right_context_ms)
        self.stream = BlockStream(self.converter, layout)
        self.layout = layout
        self.reset()

    @property
    def block_samples(self) -> int:
        return self.layout.block

    @property
    def latency_samples(self) -> int:
        """Fixed delay of ``process`` output relative to its input, in samples."""
        return self.layout.block + self.layout.nominal_delay

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate

    def _wet_target(self) -> float:
        return self.options.mix if self.options.enabled else 0.0

    def reset(self) -> None:
        """Forget all audio (warm-up silence again); settings stay."""
        self.stream.reset()
        c, b = self.channels, self.layout.block
        self._in = _Fifo(c)
        self._out = _Fifo(c)
        self._out.push(np.zeros((c, b), dtype=np.float32))
        self._dry = np.zeros((c, self.layout.nominal_delay), dtype=np.float32)
        self._wet_gain = self._wet_target()
        lay = self.layout
        earliest = lay.crossfade + lay.right  # smallest stream delay (SOLA offset at the end of its range)
        self._attack = max(1, min(ms_to_samples(GATE_ATTACK_MS, self.sample_rate), earliest))
        self._gate_line = np.zeros(max(0, earliest - self._attack), dtype=np.float32)  # gate -> output delay
        self._gate_gain = 0.0  # closed until the first block above the threshold
        self._gate_open_for = 0
        self._channel_energy = np.zeros(c, dtype=np.float64)
        self._mono_energy = 0.0
        self._limit_gain = 1.0
        self._channel_gain = np.ones(c, dtype=np.float32)
        self.blocks = 0
        self.gated_blocks = 0

    def update(self, new: VoiceOptions) -> None:
        """Apply changed options: live ones at the next block, structural ones by rebuilding the stream.

        A new converter is built before anything is replaced, so a bad setting (e.g. a missing model)
        raises and leaves the engine running as it was.
        """
        keys = RELOAD_KEYS + (("block_ms",) if new.backend == "dsp" else ())  # DSP picks its analysis by block
        reload = self._fixed_converter is None and new.differs(self.options, keys)
        restream = reload or new.differs(self.options, STREAM_KEYS)
        converter = make_converter(new) if reload else self.converter
        converter.update(new)
        if converter is not self.converter:
            self.close()
        self.options = new
        self.converter = converter
        if restream:
            self._build_stream()

    # ------------------------------------------------------------------ processing
    def process(self, block: np.ndarray) -> np.ndarray:
        """``block`` float32 (channels, n) -> (channels, n): the converted signal ``latency_samples`` late."""
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 1 and self.channels == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, n) float32 block, got shape {x.shape}")
        n = x.shape[1]
        if not np.isfinite(x).all():  # a broken source must not poison the vocoder's state
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        self._in.push(x)
        b = self.layout.block
        while len(self._in) >= b:
            self._out.push(self._process_block(self._in.pop(b)))
        return np.ascontiguousarray(self._out.pop(n))

    def _gate(self, mono: np.ndarray) -> np.ndarray:
        """Gain for the output block: this input block's gate decision, delayed so that it acts on the
        output just before this block's audio arrives there (see the module docstring)."""
        b = len(mono)
        rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2)))
        level_db = 20.0 * np.log10(max(rms, 1e-10))
        threshold = self.options.gate_db
        if threshold <= GATE_OFF_DB or level_db >= threshold:
            self._gate_open_for = int(GATE_HOLD_MS * self.sample_rate / 1000.0)
        else:
            self._gate_open_for = max(0, self._gate_open_for - b)
        target = 1.0 if self._gate_open_for > 0 else 0.0
        curve = np.full(b, target, dtype=np.float32)
        if target > self._gate_gain:  # attack: a short sin² ramp at the start of the block
            a = min(self._attack, b)
            curve[:a] = sin2_ramps(a)[0]
        elif target < self._gate_gain:  # release: over the whole block
            curve[:] = sin2_ramps(b)[1]
        self._gate_gain = target
        joined = np.concatenate([self._gate_line, curve])
        gain, self._gate_line = joined[:b], joined[b:]
        return gain

    def _limit(self, wet: np.ndarray) -> np.ndarray:
        """Peak limiter on the converted (channels, b) block (see the module docstring)."""
        if self.converter.is_identity():  # the input's own peaks: nothing to limit (pitch 0 stays exact)
            self._limit_gain = 1.0
            return wet
        peak = np.abs(wet).max(axis=0)
        top = float(peak.max()) if peak.size else 0.0
        if self._limit_gain >= 1.0 and top <= LIMIT_CEILING:
            return wet
        b = wet.shape[1]
        need = np.minimum(1.0, LIMIT_CEILING / np.maximum(peak, 1e-12))
        target = float(need.min())
        if target < self._limit_gain:  # attack: down to the block's need within 1 ms
            a = max(1, min(b, ms_to_samples(LIMIT_ATTACK_MS, self.sample_rate)))
            curve = np.full(b, target)
            curve[:a] = np.linspace(self._limit_gain, target, a, endpoint=False)
        else:  # release towards 1 (or the block's need)
            end = target + (self._limit_gain - target) * float(np.exp(-b / (LIMIT_RELEASE_MS * self.sample_rate
                                                                             / 1000.0)))
            curve = np.linspace(self._limit_gain, end, b, endpoint=False)
            target = end
        curve = np.minimum(curve, need)  # the ceiling holds during the ramps too
        self._limit_gain = min(1.0, target) if target < 0.9999 else 1.0
        return (wet * curve[None, :]).astype(np.float32)

    def _mono(self, x: np.ndarray) -> np.ndarray:
        """Mean of the channels; updates each channel's level relative to it (see the module docstring)."""
        if self.channels == 1:
            return x[0]
        mono = x.mean(axis=0)
        energy = np.mean(np.square(x, dtype=np.float64), axis=1)
        self._channel_energy = CHANNEL_SMOOTHING * self._channel_energy + (1.0 - CHANNEL_SMOOTHING) * energy
        e_mono = float(np.mean(mono.astype(np.float64) ** 2))
        self._mono_energy = CHANNEL_SMOOTHING * self._mono_energy + (1.0 - CHANNEL_SMOOTHING) * e_mono
        if self._mono_energy > 1e-12:
            self._channel_gain = np.minimum(np.sqrt(self._channel_energy / self._mono_energy),
                                            MAX_CHANNEL_GAIN).astype(np.float32)
        return mono

    def _process_block(self, x: np.ndarray) -> np.ndarray:
        b = x.shape[1]
        self.blocks += 1
        mono = self._mono(x)
        gain = self._gate(mono)
        closed = not gain.any()
        self.gated_blocks += int(closed)
        wet_from, wet_to = self._wet_gain, self._wet_target()
        self._wet_gain = wet_to
        if closed or (wet_from == 0.0 and wet_to == 0.0):  # the converted audio would not be heard
            self.stream.push(mono)
            wet = np.zeros(b, dtype=np.float32)
        else:
            wet = self.stream.process_block(mono)
        wet_c = self._limit(wet[None, :] * self._channel_gain[:, None] if self.channels > 1 else wet[None, :])
        # dry path: the same delay as the stream
        joined = np.concatenate([self._dry, x], axis=1)
        dry, self._dry = joined[:, :b], joined[:, b:]
        if wet_from == wet_to:
            w = np.float32(wet_to)
            out = w * wet_c + (1.0 - w) * dry if w != 1.0 else wet_c
        else:
            ramp = np.linspace(wet_from, wet_to, b, endpoint=False, dtype=np.float32)[None, :]
            out = ramp * wet_c + (1.0 - ramp) * dry
        return (out * gain[None, :]).astype(np.float32)

    def close(self) -> None:
        """Let the converter keep what it learned (the clone's live statistics of your voice)."""
        save = getattr(self.converter, "save_state", None)
        if save is not None:
            save()

    def flush(self) -> np.ndarray:
        """Feed ``latency_samples`` of silence and return what comes out: the end of the converted
        signal (files use this so the output has the input's length after dropping the delay)."""
        return self.process(np.zeros((self.channels, self.latency_samples), dtype=np.float32))

    def convert_whole(self, audio: np.ndarray) -> np.ndarray:
        """The current converter applied to a whole mono recording at once (no blocks, no delay)."""
        return self.stream.convert_whole(np.asarray(audio, dtype=np.float32))

    @property
    def stats(self) -> dict[str, Any]:
        return {"backend": self.options.backend, "latency_ms": round(self.latency_ms, 2),
                "block_ms": round(1000.0 * self.block_samples / self.sample_rate, 2), "blocks": self.blocks, "gated_blocks": self.gated_blocks,
                "sola_offset": self.stream.last_offset}
