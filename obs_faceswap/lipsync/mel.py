"""Wav2Lip's audio front end, exactly: the mel spectrogram its models were trained on.

Facts (Wav2Lip's ``hparams.py`` and ``audio.py``; its requirements pin librosa 0.7): 16 kHz mono;
pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]``; STFT with n_fft 800, hop 200, window 800 (periodic
Hann), centred with reflect padding (librosa 0.7's default ``pad_mode``); magnitude -> 80 Slaney
mel bands from 55 to 7600 Hz with Slaney area normalisation (librosa ``filters.mel`` defaults);
``20 log10(max(1e-5, x)) - 20`` dB; normalised symmetrically to [-4, 4]:
``clip(8 (S + 100) / 100 - 4, -4, 4)``. Video frame ``i`` sees the 16 mel frames starting at
``int(i * 80 / fps)`` (80 mel frames per second), the last chunk clamped to the end.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from obs_faceswap.lipsync.speech import Speech

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0
MEL_STEP = 16  # mel frames per video frame's chunk
MEL_FPS = SAMPLE_RATE / HOP  # 80 mel frames per second

Mel = npt.NDArray[np.float32]  # (80, frames)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa ``htk=False``)."""
    f = np.asarray(f, np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN,
                   fmax: float = FMAX) -> npt.NDArray[np.float32]:
    """(n_mels, n_fft // 2 + 1) triangular Slaney-scale filters, Slaney area-normalised (read-only)."""
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    fdiff = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def stft_magnitude(y: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """|STFT| (n_fft // 2 + 1, frames): centred, reflect-padded, periodic Hann; frames = 1 + len // hop."""
    x = np.asarray(y, np.float64)
    pad = N_FFT // 2
    if len(x) <= pad:  # too short to reflect: pad with zeros first (as a silent tail would)
        x = np.pad(x, (0, pad + 1 - len(x)))
    from scipy.fft import rfft

    xp = np.pad(x, (pad, pad), mode="reflect").astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(xp, N_FFT)[::HOP]  # a view: no copy per frame
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)
    return np.abs(rfft(frames * window, axis=1, workers=-1)).T  # type: ignore[no-any-return]


def melspectrogram(wav16k: npt.ArrayLike) -> Mel:
    """Wav2Lip's normalised mel spectrogram (80, frames) of 16 kHz mono audio, values in [-4, 4]."""
    from scipy.signal import lfilter

    y = lfilter([1.0, -PREEMPHASIS], [1.0], np.asarray(wav16k, np.float64))
    mel = mel_filterbank() @ stft_magnitude(y)
    min_level = np.exp(MIN_LEVEL_DB / 20.0 * np.log(10.0))
    s = 20.0 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    out = np.clip((2.0 * MAX_ABS) * ((s - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS, -MAX_ABS, MAX_ABS)
    return out.astype(np.float32)  # type: ignore[no-any-return]


def speech_mel(speech: Speech) -> Mel:
    """``melspectrogram`` of any ``Speech`` (resampled to 16 kHz first)."""
    return melspectrogram(speech.resampled(SAMPLE_RATE).audio)


def chunk_start(i: int, fps: float) -> int:
    """First mel frame of video frame ``i``: ``int(i * 80 / fps)``."""
    return int(i * (MEL_FPS / fps))


def mel_chunks(mel: Mel, fps: float, n_frames: int | None = None) -> list[Mel]:
    """One (80, 16) chunk per video frame (Wav2Lip's ``mel_chunks``); chunks past the end repeat the last one.

    Without ``n_frames`` the count is Wav2Lip's: frames until a chunk would run past the mel's end.
    """
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS)
    total = mel.shape[1]
    chunks: list[Mel] = []
    i = 0
    while n_frames is None or i < n_frames:
        start = chunk_start(i, fps)
        if start + MEL_STEP > total:
            chunks.append(mel[:, total - MEL_STEP:])
            if n_frames is None:
                break
        else:
            chunks.append(mel[:, start: start + MEL_STEP])
        i += 1
    return chunks
