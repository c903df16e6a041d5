"""Speech to text behind one small interface; the implementation is faster-whisper (optional package,
a CTranslate2 Whisper model folder the user downloaded: nothing is fetched at run time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.lipsync.speech import Speech

STT_RATE = 16000


class STTError(FaceSwapError):
    """Speech could not be transcribed (no engine, no model, nothing recognised)."""


class STT(Protocol):
    """A speech-to-text engine."""

    name: str

    def transcribe(self, speech: Speech) -> str:
        """The words spoken in ``speech``."""
        ...


class FasterWhisperSTT:
    """faster-whisper on a local model folder (e.g. a converted ``whisper-small``); CPU int8 by default."""

    name = "faster-whisper"

    def __init__(self, model_dir: str | os.PathLike[str], *, device: str = "cpu", compute_type: str = "int8",
                 language: str | None = None) -> None:
        path = Path(model_dir).expanduser()
        if not path.is_dir() or not (path / "model.bin").is_file():
            raise STTError(f"faster-whisper model folder not found or incomplete: {path} (it needs model.bin); "
                           "download a CTranslate2 Whisper model and pass its folder with --stt-model")
        try:
            from faster_whisper import WhisperModel  # type: ignore[import-not-found]
        except ImportError:
            raise STTError("speech input needs the faster-whisper package: pip install faster-whisper") from None
        self.model: Any = WhisperModel(str(path), device=device, compute_type=compute_type)
        self.language = language

    def transcribe(self, speech: Speech) -> str:
        audio = speech.resampled(STT_RATE).audio
        segments, _info = self.model.transcribe(audio, language=self.language, beam_size=1)
        text = " ".join(s.text.strip() for s in segments).strip()
        if not text:
            raise STTError("no words recognised in the input audio")
        return text
