"""Convert an audio file through the same streaming path as live audio, block by block.

The output has the input's length, rate and channel count: the engine's fixed delay is removed by
dropping its first ``latency_samples`` and flushing the same amount of silence at the end. The file
is written through ``media.atomic_output`` (a temporary name next to the target, renamed when
complete), so a failure never leaves a half-written output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.voice.engine import VoiceEngine

Progress = Callable[[int, int], None]  # (samples done, samples total)


class AudioFileError(FaceSwapError):
    """An audio file could not be read or written."""


def read_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """(channels, n) float32 and the sample rate. Raises ``AudioFileError`` with the reason."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"audio file not found: {p}")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (RuntimeError, ValueError) as exc:  # soundfile's errors derive from RuntimeError
        raise AudioFileError(f"cannot read {p.name} as audio ({exc}); use WAV, FLAC or OGG") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{p.name} contains no audio samples")
    return np.ascontiguousarray(data.T), int(rate)


def write_audio_atomic(path: str | os.PathLike[str], audio: np.ndarray, rate: int) -> None:
    """Write (channels, n) float32 audio; the format follows the suffix (WAV is 16-bit PCM).

    Goes through ``media.atomic_output`` like every other output: missing folders are created,
    an unwritable path raises ``OutputWriteError`` and nothing half-written is left behind.
    """
    import soundfile as sf

    from obs_faceswap.media import atomic_output, cannot_write

    p = Path(path)
    suffix = p.suffix.lower() or ".wav"
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(suffix)
    if fmt is None:
        raise AudioFileError(f"cannot write {suffix} audio; use .wav, .flac or .ogg")
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    with atomic_output(p) as tmp:
        try:
            sf.write(str(tmp), np.clip(audio.T, -1.0, 1.0), rate, format=fmt, subtype=subtype)
        except OSError as exc:  # e.g. the disk is full
            raise cannot_write(p, exc) from None
        except RuntimeError as exc:  # libsndfile reports write errors as RuntimeError
            raise AudioFileError(f"cannot write {p}: {exc}") from None


def stream_through(engine: VoiceEngine, audio: np.ndarray, *, chunk: int | None = None,
                   progress: Progress | None = None) -> np.ndarray:
    """Feed (channels, n) ``audio`` through ``engine`` in chunks (default: one block) and return the
    converted (channels, n) audio with the engine's delay removed."""
    n = audio.shape[1]
    step = chunk or engine.block_samples
    pieces: list[np.ndarray] = []
    for i in range(0, n, step):
        pieces.append(engine.process(audio[:, i: i + step]))
        if progress is not None:
            progress(min(n, i + step), n)
    pieces.append(engine.flush())
    out = np.concatenate(pieces, axis=1)
    lat = engine.latency_samples
    return np.ascontiguousarray(out[:, lat: lat + n])


def convert_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], settings: Mapping[str, Any], *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Convert ``src`` into ``dst`` with the live streaming engine; returns a small summary."""
    audio, rate = read_audio(src)
    if rate < 8000:
        raise AudioFileError(f"{Path(src).name} is sampled at {rate} Hz; voice conversion needs at least 8000 Hz")
    from obs_faceswap.settings import VOICE_SETTINGS
    from obs_faceswap.voice.backends import make_converter

    # the whole recording is known: a cloning backend takes your voice from it (not learnt as it goes)
    converter = make_converter(VOICE_SETTINGS.validate(settings), recording=(audio, rate))
    engine = VoiceEngine(settings, rate, audio.shape[0], converter=converter)
    out = stream_through(engine, audio, progress=progress)
    write_audio_atomic(dst, out, rate)
    describe = getattr(engine.converter, "describe", None)
    return {"seconds": audio.shape[1] / rate, "sample_rate": rate, "channels": audio.shape[0],
            "latency_ms": round(engine.latency_ms, 2), "backend": engine.settings["backend"],
            "voice": describe() if describe else ""}
