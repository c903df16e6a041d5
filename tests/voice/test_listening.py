"""What a listener notices in the streamed DSP voice: loudness, word onsets and endings at the noise
gate, silence, a clipping microphone, stereo sources, sample rates, live slider moves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.files import stream_through

from .conftest import RATE, median_f0


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-20))


@pytest.fixture(scope="module")
def burst() -> tuple[np.ndarray, int, int]:
    """2 s of faint hiss (-80 dBFS) with a voiced sound (150 Hz, 30 harmonics) switched on and off
    abruptly at positions that do not fall on block boundaries: (signal, onset, end)."""
    rng = np.random.default_rng(1)
    t = np.arange(2 * RATE) / RATE
    phase = 2 * np.pi * 150.0 * t
    voiced = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 30))
    onset, end = int(0.4 * RATE) + 336, int(0.9 * RATE) + 111
    x = rng.standard_normal(len(t)) * 1e-4
    x[onset:end] += voiced[onset:end]
    return x.astype(np.float32), onset, end


@pytest.mark.parametrize("settings", [{"pitch": 4}, {"formant": 4}, {"formant": -4}, {"pitch": -5, "formant": -3}])
def test_converted_voice_is_as_loud_as_the_input(speech: np.ndarray, settings: dict) -> None:
    """WORLD alone made the voice up to 1.6 dB louder (formants up) or 0.6 dB quieter (formants down)."""
    y = stream_through(VoiceEngine.from_settings(settings, RATE), speech[None])[0]
    assert abs(level_db(y) - level_db(speech)) < 0.5


@pytest.mark.parametrize("mix", [0, 100])
def test_gate_keeps_word_onsets_and_endings(burst: tuple[np.ndarray, int, int], mix: int) -> None:
    """The gate opens before the first sample of the word reaches the output and closes only after its end:
    from the onset to 100 ms after the end the output is the same as with the gate off. The hiss around
    it is removed (exactly zero, apart from the opening ramp just before the word)."""
    x, onset, end = burst
    gated_engine = VoiceEngine.from_settings({"pitch": 4, "mix": mix, "gate_db": -60}, RATE)
    gated = gated_engine.process(x[None])[0]
    open_ = VoiceEngine.from_settings({"pitch": 4, "mix": mix, "gate_db": -100}, RATE).process(x[None])[0]
    lat = gated_engine.latency_samples
    word = slice(onset + lat, end + lat + int(0.1 * RATE))
    np.testing.assert_allclose(gated[word], open_[word], atol=1e-6)
    first_block_of_word = (onset // gated_engine.block_samples) * gated_engine.block_samples
    assert np.all(gated[lat: first_block_of_word + lat - gated_engine.block_samples] == 0.0)
    assert np.all(gated[end + lat + int(0.25 * RATE):] == 0.0)
    assert np.abs(open_[end + lat + int(0.25 * RATE):]).max() > 0, "the hiss is there without the gate"


def test_silence_stays_silent_and_costs_no_conversion(speech: np.ndarray) -> None:
    engine = VoiceEngine.from_settings({"pitch": 4}, RATE)
    assert np.all(engine.process(np.zeros((1, RATE // 2), np.float32)) == 0.0)
    assert engine.gated_blocks == engine.blocks, "closed-gate blocks skip the converter"
    x = np.concatenate([speech[:RATE], np.zeros(RATE, np.float32)])
    y = engine.process(x[None])[0]
    assert np.abs(y[: RATE]).max() > 0.1
    assert np.all(y[RATE + engine.latency_samples + int(0.25 * RATE):] == 0.0), "back to digital silence"


MINUS_1_DBFS = 10 ** (-1 / 20)  # the limiter ceiling docs/voice.md promises


def test_clipping_microphone_does_not_clip_the_output(speech: np.ndarray) -> None:
    """A microphone driven into clipping (flat tops at full scale) came out of the vocoder with peaks
    2-3x over full scale; the limiter keeps the converted voice under -1 dBFS."""
    hot = np.clip(speech[: 2 * RATE] * 4.0, -1.0, 1.0)
    y = stream_through(VoiceEngine.from_settings({"pitch": 4}, RATE), hot[None])[0]
    assert np.isfinite(y).all()
    assert float(np.abs(y).max()) <= MINUS_1_DBFS + 1e-6
    assert level_db(y) > level_db(hot) - 6.0, "limited, not muted"
    normal = stream_through(VoiceEngine.from_settings({"pitch": 4}, RATE), speech[None, : 2 * RATE])[0]
    assert float(np.abs(normal).max()) < MINUS_1_DBFS, "a normal level never reaches the limiter"


def test_stereo_sources_keep_each_channel_level(speech: np.ndarray) -> None:
    """A microphone on the left channel only (common with audio interfaces) stays on the left at its level
    (the mono downmix alone halved it and spread it to both sides); identical channels stay identical."""
    x = speech[: 2 * RATE]
    left_only = stream_through(VoiceEngine.from_settings({"pitch": 4}, RATE, channels=2), np.stack([x, np.zeros_like(x)]))
    assert level_db(left_only[0]) == pytest.approx(level_db(x), abs=1.0)
    assert level_db(left_only[1]) < level_db(x) - 40.0
    both = stream_through(VoiceEngine.from_settings({"pitch": 4}, RATE, channels=2), np.stack([x, x]))
    assert np.array_equal(both[0], both[1])
    assert level_db(both[0]) == pytest.approx(level_db(x), abs=0.5)


@pytest.mark.parametrize("rate", [44100, 32000, 16000])
def test_other_sample_rates(speech: np.ndarray, rate: int) -> None:
    """OBS runs at 44.1 or 48 kHz, files come at any rate: same pitch shift, length, delay and loudness."""
    x = resample_poly(speech[: 3 * RATE].astype(np.float64), rate, RATE).astype(np.float32)
    engine = VoiceEngine.from_settings({"pitch": 4}, rate)
    y = stream_through(engine, x[None])[0]
    assert len(y) == len(x) and engine.latency_ms == pytest.approx(65.0, abs=0.1)
    assert median_f0(y, rate) / median_f0(x, rate) == pytest.approx(2 ** (4 / 12), rel=0.05)
    assert abs(level_db(y) - level_db(x)) < 0.5


@pytest.mark.parametrize("change", [{"pitch": 7}, {"formant": 6}, {"pitch": -7, "formant": -4}])
def test_live_slider_move_does_not_click(change: dict) -> None:
    """Moving pitch/formant while a voiced sound plays: the change is crossfaded (SOLA, sin²), so the
    largest second difference (what a click is made of) near the change is no larger than elsewhere."""
    t = np.arange(2 * RATE) / RATE
    phase = 2 * np.pi * 140.0 * t
    x = (0.15 * sum(np.sin(k * phase) / k for k in range(1, 25))).astype(np.float32)
    engine = VoiceEngine.from_settings({"pitch": 0.5}, RATE)
    b, lat = engine.block_samples, engine.latency_samples
    out = []
    for i in range(0, len(x), b):
        if i == RATE:
            engine.update(engine.options.with_changes(change))
        out.append(engine.process(x[None, i: i + b])[0])
    y = np.concatenate(out).astype(np.float64)
    d2 = np.abs(np.diff(y, 2))
    near = d2[RATE + lat - 2 * b: RATE + lat + 4 * b]
    steady = np.concatenate([d2[lat + RATE // 4: RATE + lat - 3 * b], d2[RATE + lat + 6 * b:]])
    assert near.max() <= 1.2 * steady.max()
    before, after = median_f0(y[lat + RATE // 4: RATE], tone=True), median_f0(y[RATE + lat + RATE // 4:], tone=True)
    expected = 2 ** ((change.get("pitch", 0.5) - 0.5) / 12)
    assert after / before == pytest.approx(expected, rel=0.03), "the change is applied"
