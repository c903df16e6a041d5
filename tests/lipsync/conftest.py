"""Shared material for the lip-sync tests: espeak-ng speech (with phoneme timing) and helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.lipsync.speech import Speech, write_speech

SENTENCE = "Hello everybody, welcome back to the stream. Today we play a big game, maybe two."


@pytest.fixture(scope="session")
def tts_speech() -> Speech:
    assert shutil.which("espeak-ng"), "espeak-ng is required for the lip-sync tests (apt install espeak-ng)"
    from obs_faceswap.lipsync.tts import EspeakTTS

    return EspeakTTS("en", 160).speak(SENTENCE)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory, tts_speech: Speech) -> Path:
    """The TTS sentence as a plain WAV (no phoneme timing travels with it)."""
    p = tmp_path_factory.mktemp("speech") / "sentence.wav"
    write_speech(p, tts_speech)
    return p


def frame_rms(audio: np.ndarray, rate: int, fps: float, n: int) -> np.ndarray:
    """Independent loudness envelope: RMS of a one-frame window centred on each frame time."""
    half = rate / fps / 2
    out = np.zeros(n)
    for i in range(n):
        c = i * rate / fps
        seg = audio[max(0, int(c - half)): max(0, int(c + half))]
        out[i] = np.sqrt(np.mean(seg.astype(np.float64) ** 2)) if len(seg) else 0.0
    return out


def lagged_r(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Pearson r of a[i] with b[i + lag]."""
    if lag > 0:
        a, b = a[:-lag], b[lag:]
    elif lag < 0:
        a, b = a[-lag:], b[:lag]
    return float(np.corrcoef(a, b)[0, 1])
