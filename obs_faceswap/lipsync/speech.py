"""Speech as one record: mono float32 samples, their rate, and (from TTS) phoneme timing.

Any audio file the project reads (``voice.files.read_audio``: WAV, FLAC, OGG) is mixed down to
mono; ``resampled`` converts the rate with the voice engine's polyphase resampler (8 kHz telephone audio, 44.1/48 kHz
recordings), so every consumer gets the rate it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import FaceSwapError

Audio = npt.NDArray[np.float32]  # (n,) mono


@dataclass(frozen=True)
class Phoneme:
    """One phoneme of synthesised speech: its symbol (espeak-ng's ASCII names) and time span."""

    symbol: str
    start: float  # seconds
    end: float


@dataclass
class Speech:
    """Mono speech. ``phonemes`` is filled when the speech came from text (TTS), else empty."""

    audio: Audio
    rate: int
    phonemes: list[Phoneme] = field(default_factory=list)
    text: str = ""

    @property
    def seconds(self) -> float:
        return len(self.audio) / float(self.rate)

    def resampled(self, rate: int) -> Speech:
        """The same speech at ``rate`` Hz (itself when the rate already matches)."""
        if rate == self.rate:
            return self
        from obs_faceswap.voice.stream import resample

        return Speech(resample(self.audio, self.rate, rate), rate, list(self.phonemes), self.text)


def load_speech(path: str | os.PathLike[str]) -> Speech:
    """Read a speech file (WAV, FLAC, OGG; any rate, mono or stereo) as mono ``Speech``.

    Raises ``AudioFileError`` (a ``FaceSwapError``) saying why a file cannot be used.
    """
    from obs_faceswap.voice.files import AudioFileError, read_audio

    audio, rate = read_audio(path)
    if rate < 4000:
        raise AudioFileError(f"{Path(path).name} is sampled at {rate} Hz; lip sync needs at least 4000 Hz")
    mono = audio.mean(axis=0).astype(np.float32)
    if not np.isfinite(mono).all():
        raise AudioFileError(f"{Path(path).name} contains invalid samples (NaN or infinity)")
    return Speech(mono, int(rate))


def write_speech(path: str | os.PathLike[str], speech: Speech) -> None:
    """Write ``speech`` as 16-bit PCM (atomically, like every output)."""
    from obs_faceswap.voice.files import write_audio_atomic

    if len(speech.audio) == 0:
        raise FaceSwapError("no speech to write (empty audio)")
    write_audio_atomic(path, speech.audio[None, :], speech.rate)
