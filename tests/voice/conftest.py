"""Shared audio for the voice tests: real speech from espeak-ng at 48 kHz, and helpers to measure it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyworld as pw
import soundfile as sf
from scipy.signal import resample_poly, stft

RATE = 48000
PHRASE = "Hello there, this is a quick test of my new voice. Is it working well?"


@pytest.fixture(scope="session")
def speech_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng speech, resampled to 48 kHz mono 16-bit WAV."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is required for the voice tests (apt install espeak-ng)"
    d = tmp_path_factory.mktemp("speech")
    raw = d / "raw.wav"
    subprocess.run([exe, "-s", "160", "-w", str(raw), PHRASE], check=True, capture_output=True)
    x, sr = sf.read(str(raw), dtype="float64")
    y = resample_poly(x, RATE, sr) * 0.8 / max(1e-9, float(np.abs(x).max()))
    out = d / "speech48k.wav"
    sf.write(str(out), y, RATE, subtype="PCM_16")
    return out


@pytest.fixture(scope="session")
def speech(speech_path: Path) -> np.ndarray:
    x, sr = sf.read(str(speech_path), dtype="float32")
    assert sr == RATE
    return x


_F0_CACHE: dict[tuple[str, int], np.ndarray] = {}


def f0_track(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """F0 every 5 ms with WORLD harvest at 16 kHz (0 = unvoiced): an independent, robust tracker."""
    key = (hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest(), rate)
    if key not in _F0_CACHE:
        _F0_CACHE[key] = _harvest(x, rate)
    return _F0_CACHE[key]


def _harvest(x: np.ndarray, rate: int) -> np.ndarray:
    s16 = resample_poly(np.asarray(x, dtype=np.float64), 16000, rate)
    f0, _ = pw.harvest(s16, 16000, f0_floor=60.0, f0_ceil=700.0, frame_period=5.0)
    return f0


def dio_track(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """F0 every 5 ms with WORLD dio + stonemask: unlike harvest it also tracks pure tones."""
    s16 = resample_poly(np.asarray(x, dtype=np.float64), 16000, rate)
    f0, t = pw.dio(s16, 16000, f0_floor=60.0, f0_ceil=700.0, frame_period=5.0)
    return pw.stonemask(s16, f0, t, 16000)


def median_f0(x: np.ndarray, rate: int = RATE, *, tone: bool = False) -> float:
    """Median F0 of voiced frames: harvest for speech, dio for pure tones (``tone=True``)."""
    f0 = dio_track(x, rate) if tone else f0_track(x, rate)
    voiced = f0[f0 > 0]
    assert len(voiced) > 50, "too few voiced frames to measure F0"
    return float(np.median(voiced))


def spectral_centroid(x: np.ndarray, rate: int = RATE) -> float:
    """Median spectral centroid (Hz) of the louder frames."""
    f, _, z = stft(x, rate, nperseg=1024)
    p = np.abs(z) ** 2
    e = p.sum(axis=0)
    loud = e > e.max() * 1e-3
    return float(np.median((f[:, None] * p).sum(axis=0)[loud] / e[loud]))


def envelope(x: np.ndarray, rate: int = RATE, frame_ms: float = 10.0) -> np.ndarray:
    """RMS per frame."""
    n = int(rate * frame_ms / 1000)
    m = len(x) // n
    return np.sqrt(np.mean(np.asarray(x[: m * n], dtype=np.float64).reshape(m, n) ** 2, axis=1))
