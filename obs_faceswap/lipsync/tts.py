"""Text to speech behind one small interface: espeak-ng (embedded, with phoneme timing) or a Piper voice.

``EspeakTTS`` calls libespeak-ng through ctypes in synchronous mode: the audio and a phoneme event
(symbol + sample position) for every phoneme come back through one callback, so the lip sync
knows when each "p", "oo" or "ee" is spoken. Where the library cannot be loaded (another OS
layout), the ``espeak-ng`` program writes the WAV and the speech carries no phoneme timing (the
mouth then follows loudness and spectral shape only).

``PiperTTS`` speaks with a Piper voice the user downloaded (``.onnx`` + ``.onnx.json``), through
the optional ``piper-tts`` package; no phoneme timing.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.lipsync.speech import Phoneme, Speech, load_speech

DEFAULT_VOICE = "en"
DEFAULT_RATE_WPM = 160
MAX_TEXT = 5000  # characters per request


class TTSError(FaceSwapError):
    """Text could not be turned into speech (no engine, unknown voice, empty text)."""


class TTS(Protocol):
    """A text-to-speech engine."""

    name: str

    def speak(self, text: str) -> Speech:
        """The spoken ``text`` (phonemes filled when the engine knows them)."""
        ...


def _check_text(text: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise TTSError("no text to speak: give a non-empty --text")
    if len(text) > MAX_TEXT:
        raise TTSError(f"the text has {len(text)} characters; at most {MAX_TEXT} are spoken at once")
    return text


# ----------------------------------------------------------------------------- espeak-ng

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_LIB_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so", "libespeak-ng.1.dylib", "libespeak-ng.dylib",
              "libespeak-ng.dll", "espeak-ng.dll")


class _Espeak:
    """The process-wide libespeak-ng handle (the library keeps global state: one synthesis at a time)."""

    lock = threading.Lock()
    lib: Any = None
    rate = 0
    failed = False
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    @classmethod
    def load(cls) -> bool:
        if cls.lib is not None or cls.failed:
            return cls.lib is not None
        for name in _LIB_NAMES:
            try:
                lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        else:
            cls.failed = True
            return False
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if rate <= 0:
            cls.failed = True
            return False
        cls.callback = _CALLBACK(cls._collect)  # kept alive for the process
        lib.espeak_SetSynthCallback(cls.callback)
        cls.lib, cls.rate = lib, int(rate)
        return True

    @classmethod
    def _collect(cls, wav: Any, n: int, events: Any) -> int:
        try:
            if wav and n > 0:
                cls.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                e = events[i]
                if e.type == _EVENT_PHONEME:
                    cls.events.append((int(e.sample), bytes(e.id).split(b"\0")[0].decode("ascii", "replace")))
                i += 1
        except Exception:  # never let an exception cross the C boundary
            return 1
        return 0


class EspeakTTS:
    """espeak-ng speech with phoneme timing; ``voice`` is an espeak-ng voice name (``espeak-ng --voices``)."""

    name = "espeak-ng"

    def __init__(self, voice: str = DEFAULT_VOICE, rate_wpm: int = DEFAULT_RATE_WPM) -> None:
        self.voice = voice or DEFAULT_VOICE
        self.rate_wpm = int(np.clip(rate_wpm, 80, 450))
        if not _Espeak.load() and shutil.which("espeak-ng") is None:
            raise TTSError("espeak-ng not found: install it (Debian/Ubuntu: apt install espeak-ng; "
                           "Windows: winget install espeak-ng; macOS: brew install espeak-ng)")

    def speak(self, text: str) -> Speech:
        text = _check_text(text)
        if _Espeak.lib is None:
            return self._speak_program(text)
        with _Espeak.lock:
            lib = _Espeak.lib
            if lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
                raise TTSError(f"unknown espeak-ng voice {self.voice!r}; 'espeak-ng --voices' lists them "
                               "(e.g. en, en-us, de, fr, en+f3)")
            lib.espeak_SetParameter(_PARAM_RATE, self.rate_wpm, 0)
            _Espeak.chunks, _Espeak.events = [], []
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data, len(data))
            err = lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, events = _Espeak.chunks, _Espeak.events
        if err != 0 or not chunks:
            raise TTSError(f"espeak-ng could not speak the text (error {err})")
        audio = np.concatenate(chunks).astype(np.float32) / np.float32(32768.0)
        return Speech(audio, _Espeak.rate, phonemes_from_events(events, len(audio), _Espeak.rate), text)

    def _speak_program(self, text: str) -> Speech:
        exe = shutil.which("espeak-ng")
        assert exe is not None
        with tempfile.TemporaryDirectory(prefix="obs-faceswap-tts-") as d:
            wav = Path(d) / "speech.wav"
            res = subprocess.run([exe, "-v", self.voice, "-s", str(self.rate_wpm), "-w", str(wav), "--", text],
                                 capture_output=True, text=True)
            if res.returncode != 0 or not wav.is_file():
                raise TTSError(f"espeak-ng failed: {res.stderr.strip()[-200:] or res.returncode}")
            speech = load_speech(wav)
        speech.text = text
        return speech


def phonemes_from_events(events: list[tuple[int, str]], n_samples: int, rate: int) -> list[Phoneme]:
    """Phoneme spans from (start sample, symbol) events: each lasts until the next one starts."""
    out = []
    for k, (start, sym) in enumerate(events):
        end = events[k + 1][0] if k + 1 < len(events) else n_samples
        if end > start:
            out.append(Phoneme(sym, start / rate, end / rate))
    return out


# ----------------------------------------------------------------------------- Piper


class PiperTTS:
    """A Piper voice (user-downloaded ``.onnx`` with its ``.onnx.json``), via the optional ``piper-tts`` package."""

    name = "piper"

    def __init__(self, model: str | os.PathLike[str]) -> None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise TTSError(f"Piper voice not found: {path}; download a voice (.onnx and its .onnx.json) and pass "
                           "the .onnx path")
        if not Path(str(path) + ".json").is_file():
            raise TTSError(f"{path.name} has no {path.name}.json beside it: a Piper voice needs both files")
        try:
            from piper import PiperVoice  # type: ignore[import-not-found]
        except ImportError:
            raise TTSError("Piper voices need the piper-tts package: pip install piper-tts") from None
        self.voice = PiperVoice.load(str(path))

    def speak(self, text: str) -> Speech:
        import wave

        text = _check_text(text)
        with tempfile.TemporaryDirectory(prefix="obs-faceswap-tts-") as d:
            wav = Path(d) / "speech.wav"
            with wave.open(str(wav), "wb") as w:
                synth = getattr(self.voice, "synthesize_wav", None) or self.voice.synthesize
                synth(text, w)
            speech = load_speech(wav)
        speech.text = text
        return speech


def make_tts(voice: str | None = None, rate_wpm: int = DEFAULT_RATE_WPM) -> TTS:
    """``voice``: an espeak-ng voice name (default ``en``) or the path of a Piper voice ``.onnx``."""
    v = (voice or "").strip()
    if v.lower().endswith(".onnx"):
        return PiperTTS(v)
    return EspeakTTS(v or DEFAULT_VOICE, rate_wpm)


class ClonedTTS:
    """A TTS whose speech takes a reference voice (Voice Clone's embedded clone) before it is returned."""

    def __init__(self, inner: TTS, reference_voice: str) -> None:
        self.inner = inner
        self.reference_voice = reference_voice

    def speak(self, text: str) -> Speech:
        return in_voice(self.inner.speak(text), self.reference_voice)


def in_voice(speech: Speech, reference_voice: str) -> Speech:
    """``speech`` converted toward the voice of the ``reference_voice`` clip (timing and phonemes kept)."""
    from dataclasses import replace

    import numpy as np

    from obs_faceswap.voice.files import convert_audio
    from obs_faceswap.voice.options import VoiceOptions

    cloned, _ = convert_audio(speech.audio[None, :], speech.rate,
                              VoiceOptions.from_settings({"reference_voice": reference_voice}))
    return replace(speech, audio=np.ascontiguousarray(cloned[0], dtype=np.float32))
