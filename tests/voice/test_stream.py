"""The streaming contract: any n in, n out, a fixed delay, sample-continuous blocks, live settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.files import stream_through
from obs_faceswap.voice.stream import sin2_ramps, sola_offset

from .conftest import RATE, median_f0


class LinearConverter:
    """A time-invariant converter (FIR low-pass at 16 kHz, written at 24 kHz): streaming it must give
    exactly what converting the whole recording gives."""

    input_rate = 16000
    output_rate = 24000
    right_context_ms = 5.0

    def __init__(self) -> None:
        t = np.arange(-16, 17)
        self.taps = (np.sinc(t / 3.0) * np.hanning(33)).astype(np.float64)
        self.taps /= self.taps.sum()

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        y = np.convolve(window.astype(np.float64), self.taps, mode="same")
        return resample_poly(y, 3, 2).astype(np.float32)

    def update(self, settings: Mapping[str, Any]) -> None:
        return None

    def is_identity(self) -> bool:
        return False


def test_sin2_ramps_sum_to_one() -> None:
    fade_in, fade_out = sin2_ramps(480)
    assert np.allclose(fade_in + fade_out, 1.0, atol=1e-6)
    assert fade_in[0] < 0.001 and fade_in[-1] > 0.999 and np.all(np.diff(fade_in) > 0)


def test_sola_finds_the_shift() -> None:
    rng = np.random.default_rng(3)
    sig = rng.standard_normal(4000).astype(np.float32)
    tail = sig[1000:1480]
    segment = sig[1000 - 137: 1000 - 137 + 480 + 480]  # tail starts 137 samples into the segment
    assert sola_offset(segment, tail, 480, 240) == 137
    assert sola_offset(segment, np.zeros(480, np.float32), 480, 240) == 240  # silence keeps nominal


def test_fixed_delay_with_random_block_sizes(speech: np.ndarray) -> None:
    """Whatever the call sizes, output = whole-recording conversion delayed by latency_samples."""
    engine = VoiceEngine.from_settings({"block_ms": 20, "crossfade_ms": 10, "context_ms": 60, "gate_db": -100}, RATE,
                         converter=LinearConverter())
    lat = engine.latency_samples
    assert engine.latency_ms == pytest.approx(1000 * lat / RATE)
    rng = np.random.default_rng(7)
    x = speech[: RATE * 2]
    outs, i = [], 0
    while i < len(x):
        n = int(rng.choice([0, 1, 7, 333, 960, 1500, 4801]))
        out = engine.process(x[None, i: i + n])
        assert out.shape == (1, len(x[i: i + n])) and out.dtype == np.float32
        outs.append(out[0])
        i += n
    y = np.concatenate(outs)
    whole = engine.convert_whole(x)
    assert np.all(y[:lat] == 0.0), "warm-up must be silence"
    err = np.abs(y[lat:] - whole[: len(x) - lat])
    assert float(np.abs(whole).max()) > 0.3
    assert float(err.max()) < 2e-4, f"streamed output differs from the whole-file output by {err.max():.2e}"


def test_stereo_channels_keep_the_delay(speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings({"mix": 0, "gate_db": -100}, RATE, channels=2, converter=LinearConverter())
    x = np.stack([speech[:RATE], -0.5 * speech[:RATE]])
    y = engine.process(x)
    lat = engine.latency_samples
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:, lat:], x[:, : RATE - lat], atol=1e-6)


def test_dry_mix_and_disabled_are_the_input_delayed(speech: np.ndarray) -> None:
    x = speech[: RATE]
    for settings in ({"mix": 0, "pitch": 5, "gate_db": -100}, {"enabled": False, "pitch": 5, "gate_db": -100}):
        engine = VoiceEngine.from_settings(settings, RATE)
        y = engine.process(x[None])[0]
        lat = engine.latency_samples
        np.testing.assert_allclose(y[lat:], x[: len(x) - lat], atol=1e-6)


def test_pitch_zero_dsp_is_exactly_the_input_delayed(speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings({"pitch": 0, "formant": 0, "gate_db": -100}, RATE)
    x = speech[: RATE]
    y = stream_through(engine, x[None], chunk=512)[0]
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_block_edges_have_no_clicks() -> None:
    """A pure tone through the vocoder (+3 st): the largest step between neighbouring samples near block
    joins is no larger than elsewhere, and the tone is really shifted."""
    engine = VoiceEngine.from_settings({"pitch": 3, "block_ms": 20, "crossfade_ms": 10}, RATE)
    t = np.arange(RATE * 2) / RATE
    x = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    y = engine.process(x[None])[0]
    b, c, lat = engine.block_samples, engine.layout.crossfade, engine.latency_samples
    idx = np.arange(len(y) - 1)
    steady = idx > lat + RATE // 4
    step = np.abs(np.diff(y.astype(np.float64)))
    pos = (idx - b) % b  # position inside the emitted block (the output FIFO is one block late)
    near_join = (pos < c + 8) | (pos > b - 8)
    assert np.sqrt(np.mean(y[lat + RATE // 4:] ** 2)) > 0.15, "the tone must come through"
    assert step[steady & near_join].max() <= 1.2 * step[steady & ~near_join].max()
    tone = y[lat + RATE // 4:]
    frames = len(tone) // 240
    env = np.sqrt(np.mean(tone[: frames * 240].reshape(frames, 240) ** 2, axis=1))  # 5 ms RMS
    assert env.min() > 0.9 * np.median(env), "SOLA must join blocks in phase (no dips at the joins)"
    assert median_f0(y[lat + RATE // 4:], tone=True) == pytest.approx(220.0 * 2 ** (3 / 12), rel=0.02)


def test_chunking_does_not_change_the_output(speech: np.ndarray) -> None:
    x = speech[: RATE]
    a = VoiceEngine.from_settings({"pitch": 4}, RATE)
    b = VoiceEngine.from_settings({"pitch": 4}, RATE)
    ya = stream_through(a, x[None], chunk=a.block_samples)
    yb = stream_through(b, x[None], chunk=1234)
    np.testing.assert_allclose(ya, yb, atol=1e-6)


def test_noise_gate_silences_quiet_input(speech: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(RATE) * 10 ** (-75 / 20)).astype(np.float32)  # about -75 dBFS
    engine = VoiceEngine.from_settings({"gate_db": -60, "mix": 0}, RATE)
    y = engine.process(hiss[None])[0]
    assert np.all(y[RATE // 4:] == 0.0)
    loud = engine.process(speech[None, : RATE])[0]
    assert np.abs(loud).max() > 0.1, "speech above the gate passes"
    open_gate = VoiceEngine.from_settings({"gate_db": -100, "mix": 0}, RATE).process(hiss[None])[0]
    assert np.abs(open_gate[RATE // 4:]).max() > 0


def test_live_update_keeps_or_announces_the_delay(speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings({"pitch": 2}, RATE)
    lat = engine.latency_samples
    engine.process(speech[None, : RATE // 2])
    engine.update(engine.options.with_changes({"pitch": -3, "formant": 2, "mix": 80}))
    assert engine.latency_samples == lat and engine.converter.pitch == -3
    out = engine.process(speech[None, RATE // 2: RATE])
    assert out.shape == (1, RATE // 2) and np.abs(out).max() > 0.05
    engine.update(engine.options.with_changes({"block_ms": 40}))
    assert engine.latency_samples == lat + ms(20)
    assert engine.converter.aperiodicity == "d4c" and engine.converter.pitch == -3  # 40 ms blocks afford D4C
    assert np.all(engine.process(speech[None, :1000]) == 0.0), "a new layout starts with warm-up silence"


def ms(v: float) -> int:
    return int(round(v * RATE / 1000))


def test_latency_budget_at_20ms_blocks() -> None:
    engine = VoiceEngine.from_settings({"block_ms": 20}, RATE)
    assert engine.latency_ms <= 80.0
    assert engine.latency_samples == engine.block_samples + engine.layout.nominal_delay


def test_non_finite_input_does_not_poison_the_stream(speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings({"pitch": 4}, RATE)
    bad = speech[: RATE // 2].copy()
    bad[1000:1100] = np.nan
    bad[2000] = np.inf
    assert np.isfinite(engine.process(bad[None])).all()
    later = engine.process(speech[None, RATE // 2: RATE])
    assert np.isfinite(later).all() and np.abs(later).max() > 0.05
