"""Convert an audio file through the same streaming path as live audio, block by block.

The output has the input's length, rate and channel count: the engine's fixed delay is removed by
dropping its first ``latency_samples`` and flushing the same amount of silence at the end. The file
is written through ``media.atomic_output`` (a temporary name next to the target, renamed when
complete), so a failure never leaves a half-written output.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.voice.engine import VoiceEngine
from obs_faceswap.voice.options import VoiceOptions

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
    short = _truncation(p, data.shape[0])
    if short:
        print(f"obs-faceswap: warning: {p.name} {short} (a truncated or damaged file?); converting the "
              f"{data.shape[0] / rate:.2f} s it holds", file=sys.stderr)
    return np.ascontiguousarray(data.T), int(rate)


def _truncation(p: Path, frames_read: int) -> str:
    """How ``p`` ends early, or "" when it is whole: fewer samples than its header announces
    (libsndfile then notes 'data : N (should be M)' in its log and reads what is there)."""
    import soundfile as sf

    try:
        info = sf.info(str(p))
    except (RuntimeError, ValueError):
        return ""
    for line in str(info.extra_info).splitlines():
        m = re.match(r"\s*data\s*:\s*(\d+)\s*\(should be (\d+)\)", line)
        if m and int(m.group(2)) < int(m.group(1)):
            return f"ends early: its header announces {int(m.group(1)):,} bytes of audio, it holds {int(m.group(2)):,}"
    if info.frames > frames_read + 1:
        return f"ends early: {frames_read:,} of the {info.frames:,} samples it announces could be read"
    return ""


# soundfile subtypes kept as they are; other inputs (8-bit, 32-bit, float ...) are written at 16 bits
_KEPT_DEPTH = {"WAV": ("PCM_16", "PCM_24", "FLOAT"), "FLAC": ("PCM_16", "PCM_24")}


def audio_subtype(path: str | os.PathLike[str]) -> str:
    """The sample format of an audio file as soundfile names it ('PCM_24' ...), "" when unknown."""
    import soundfile as sf

    try:
        return str(sf.info(str(path)).subtype)
    except (RuntimeError, ValueError):
        return ""


def check_audio_output(path: str | os.PathLike[str]) -> str:
    """The soundfile format for an output path; ``AudioFileError`` for a type we cannot write
    (called before any work, so a wrong suffix costs nothing)."""
    suffix = Path(path).suffix.lower() or ".wav"
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(suffix)
    if fmt is None:
        raise AudioFileError(f"cannot write {suffix} audio ({Path(path).name}); use .wav, .flac or .ogg")
    return fmt


def write_audio_atomic(path: str | os.PathLike[str], audio: np.ndarray, rate: int, depth: str = "") -> None:
    """Write (channels, n) float32 audio; the format follows the suffix, the sample format ``depth``
    (a soundfile subtype such as 'PCM_24', the input's) when that format can hold it, else 16-bit PCM.

    Goes through ``media.atomic_output`` like every other output: missing folders are created,
    an unwritable path raises ``OutputWriteError`` and nothing half-written is left behind.
    """
    from obs_faceswap.media import atomic_output

    p = Path(path)
    check_audio_output(p)
    with atomic_output(p) as tmp:
        _write_audio(tmp, p, audio, rate, depth)


def _write_audio(tmp: Path, dest: Path, audio: np.ndarray, rate: int, depth: str) -> None:
    """Write the audio into ``tmp`` (``atomic_output``'s file) in the format ``dest`` asks for."""
    import soundfile as sf

    from obs_faceswap.media import cannot_write

    fmt = check_audio_output(dest)
    subtype = depth if depth in _KEPT_DEPTH.get(fmt, ()) else {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS"}[fmt]
    try:
        sf.write(str(tmp), np.clip(audio.T, -1.0, 1.0), rate, format=fmt, subtype=subtype)
    except OSError as exc:  # e.g. the disk is full
        raise cannot_write(dest, exc) from None
    except RuntimeError as exc:  # libsndfile reports write errors as RuntimeError
        raise AudioFileError(f"cannot write {dest}: {exc}") from None


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


def convert_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], options: VoiceOptions, *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Convert ``src`` into ``dst`` with the live streaming engine; returns a small summary. The
    output (type and place) is checked before any work: its temporary file is made first."""
    from obs_faceswap.media import atomic_output

    out_path = Path(dst)
    check_audio_output(out_path)
    with atomic_output(out_path) as tmp:
        audio, rate = read_audio(src)
        if rate < 8000:
            raise AudioFileError(f"{Path(src).name} is sampled at {rate} Hz; voice conversion needs at least 8000 Hz")
        out, info = convert_audio(audio, rate, options, progress=progress)
        _write_audio(tmp, out_path, out, rate, audio_subtype(src))
    return info


def convert_audio(audio: np.ndarray, rate: int, options: VoiceOptions, *,
                  progress: Progress | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Convert a whole (channels, n) recording with the live streaming engine (delay removed);
    returns the converted audio and a small summary."""
    from obs_faceswap.voice.backends import make_converter

    # the whole recording is known: a cloning backend takes your voice from it (not learnt as it goes)
    converter = make_converter(options, recording=(audio, rate))
    engine = VoiceEngine(options, rate, audio.shape[0], converter=converter)
    out = stream_through(engine, audio, progress=progress)
    describe = getattr(engine.converter, "describe", None)
    return out, {"seconds": audio.shape[1] / rate, "sample_rate": rate, "channels": audio.shape[0],
                 "latency_ms": round(engine.latency_ms, 2), "backend": options.backend,
                 "voice": describe() if describe else ""}
