"""A Voice Clone filter with a reference clip inside a real OBS Studio: the recorded program audio moves
toward the reference voice (F0 and mean spectral envelope), as the engine tests measure it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from tests.voice.test_clone import REFERENCE_TEXT, f0_stats, mel_envelope, rms_db

from .harness import HeadlessObs
from .test_obs_filters import (
    AUDIO_KIND,
    FACE,
    SPEECH,
    SWAP,
    VOICE,
    ensure_filter,
    record,
    set_if_present,
    wait_for,
)

pytestmark = [pytest.mark.obs, pytest.mark.slow]
RATE = 48000


def at_48k(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    return resample_poly(x.mean(axis=1), RATE, sr).astype(np.float32)


def test_voice_clone_with_a_reference_moves_the_voice_toward_it(obs: HeadlessObs, speech_wav: Path,
                                                                tmp_path: Path) -> None:
    raw, ref_path = tmp_path / "raw.wav", tmp_path / "reference.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-w", str(raw), REFERENCE_TEXT], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", "48000", "-ac", "1", str(ref_path)],
                   check=True)
    set_if_present(obs, FACE, SWAP, {"enabled": False})
    ensure_filter(obs, SPEECH, VOICE, AUDIO_KIND, {"enabled": True, "backend": "dsp", "pitch": 0.0, "formant": 0.0,
                                                 "mix": 100, "reference_voice": str(ref_path)})
    try:
        def status() -> str:
            return str(obs.filter_settings(SPEECH, VOICE).get("status", ""))

        def blocks() -> int:
            """Blocks the filter has streamed (its status: 'latency X ms, underruns U of B blocks; ...')."""
            text = status()
            return int(text.split(" of ")[1].split()[0]) if text.startswith("latency") and " of " in text else -1

        # the worker reports the clone, and its live warm-up (learning this speaker) is over
        wait_for(lambda: "clone toward a" in status() and "learning" not in status() and blocks() >= 0, 120,
                 lambda: f"the clone never finished its warm-up: {status()!r}", interval=0.5)
        first = blocks()
        wait_for(lambda: blocks() > first + 100, 60, lambda: f"the stream stopped: {status()!r}", interval=0.5)
        shown = status()
        wet = at_48k(record(obs, 6.0, tmp_path / "wet.wav"))
    finally:
        set_if_present(obs, SPEECH, VOICE, {"reference_voice": ""})
    dry, ref = at_48k(speech_wav), at_48k(ref_path)
    (m_dry, _), (m_ref, _), (m_wet, _) = f0_stats(dry), f0_stats(ref), f0_stats(wet)
    to_ref, to_dry = abs(12 * np.log2(m_wet / m_ref)), abs(12 * np.log2(m_wet / m_dry))
    e_dry, e_ref, e_wet = mel_envelope(dry), mel_envelope(ref), mel_envelope(wet)
    msg = (f"status {shown!r}; OBS recording: median F0 {m_wet:.0f} Hz (dry {m_dry:.0f}, reference {m_ref:.0f}): {to_ref:.2f} st from "
           f"the reference, {to_dry:.2f} st from the dry voice; mean log-mel envelope {rms_db(e_wet, e_ref):.2f} dB "
           f"from the reference, {rms_db(e_wet, e_dry):.2f} dB from the dry voice")
    print(msg)
    assert to_ref < 0.5 * to_dry, msg
    assert rms_db(e_wet, e_ref) < rms_db(e_wet, e_dry), msg
