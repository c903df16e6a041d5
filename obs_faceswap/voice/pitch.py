"""F0 (pitch) estimators for the neural voice backends, one value per 10 ms at 16 kHz (0 = unvoiced).

- ``WorldF0``: WORLD ``dio`` + ``stonemask`` (pyworld), no download, cheap;
- ``RmvpeF0``: RMVPE ONNX (family ``rmvpe``), RVC's recommended estimator, robust to noise and
  breathy voice: log-mel (128 HTK mel bands 30-8000 Hz, n_fft 1024, hop 160, Hann, centred STFT,
  log of magnitude clamped at 1e-5; frames padded to a multiple of 32) in, 360-bin salience out
  (20-cent bins from 1997.38 cents), decoded by a local weighted average around the peak.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np
import pyworld as pw

from obs_faceswap.errors import ModelSignatureError
from obs_faceswap.models.session import Session

RATE = 16000
HOP = 160
F0_MIN, F0_MAX = 50.0, 1100.0


class PitchEstimator(Protocol):
    name: str

    def f0(self, x: np.ndarray, frames: int) -> np.ndarray:
        """F0 in Hz for ``frames`` 10 ms frames of 16 kHz audio ``x`` (frame k centred at k * 160)."""
        ...


def _fit(f0: np.ndarray, frames: int) -> np.ndarray:
    f0 = np.asarray(f0, dtype=np.float64)
    if len(f0) < frames:
        f0 = np.concatenate([f0, np.zeros(frames - len(f0))])
    return f0[:frames]


class WorldF0:
    name = "world"

    def f0(self, x: np.ndarray, frames: int) -> np.ndarray:
        x64 = np.ascontiguousarray(x, dtype=np.float64)
        f0, t = pw.dio(x64, RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=1000.0 * HOP / RATE)
        return _fit(pw.stonemask(x64, f0, t, RATE), frames)


@lru_cache(maxsize=2)
def mel_filters(n_mels: int = 128, n_fft: int = 1024, fmin: float = 30.0, fmax: float = 8000.0) -> np.ndarray:
    """HTK-scale triangular mel filters with Slaney area normalisation (librosa ``mel(htk=True)``)."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0.0, RATE / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(fmin)), hz_to_mel(np.array(fmax)), n_mels + 2))
    fdiff = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def log_mel(x: np.ndarray, n_fft: int = 1024) -> np.ndarray:
    """f32[128, frames] with frames = 1 + len(x) // 160 (centred, reflect-padded STFT)."""
    x = np.asarray(x, dtype=np.float32)
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad), mode="reflect") if len(x) > pad else np.pad(x, (pad, pad))
    frames = 1 + len(x) // HOP
    idx = np.arange(n_fft)[None, :] + HOP * np.arange(frames)[:, None]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic Hann
    spec = np.abs(np.fft.rfft(xp[idx] * window, axis=1)).T  # [bins, frames]
    return np.log(np.maximum(mel_filters(n_fft=n_fft) @ spec, 1e-5)).astype(np.float32)


CENTS = 20.0 * np.arange(360) + 1997.3794084376191


def decode_salience(salience: np.ndarray, threshold: float = 0.03) -> np.ndarray:
    """[frames, 360] salience -> F0 Hz (weighted average of 9 bins around the peak; 0 below threshold)."""
    sal = np.asarray(salience, dtype=np.float64)
    center = np.argmax(sal, axis=1)
    padded = np.pad(sal, ((0, 0), (4, 4)))
    cents = np.pad(CENTS, (4, 4))
    idx = center[:, None] + np.arange(9)[None, :]
    s = np.take_along_axis(padded, idx, axis=1)
    c = cents[idx]
    avg = (s * c).sum(axis=1) / np.maximum(s.sum(axis=1), 1e-9)
    f0 = 10.0 * 2.0 ** (avg / 1200.0)
    f0[sal.max(axis=1) <= threshold] = 0.0
    return f0


class RmvpeF0:
    name = "rmvpe"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.input = session.inputs[0].name

    def f0(self, x: np.ndarray, frames: int) -> np.ndarray:
        mel = log_mel(x)
        n = mel.shape[1]
        padded = np.pad(mel, ((0, 0), (0, 32 * ((n - 1) // 32 + 1) - n)))
        out = np.asarray(self.session.run({self.input: padded[None]})[0])
        if out.ndim != 3 or out.shape[2] != 360:
            raise ModelSignatureError(f"RMVPE model {self.session.path.name} returned shape {out.shape}, "
                                      "expected [1, frames, 360]")
        return _fit(decode_salience(out[0, :n]), frames)
