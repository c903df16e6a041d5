"""The converter interface every voice backend implements, and the factory that picks one.

A converter turns a mono window of audio into the converted window. It is called once per block
on the whole sliding window (left context + the new block + SOLA room + right context), so it may
be stateless: the streaming layer (``stream.BlockStream``) cuts, aligns and crossfades its output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from obs_faceswap.errors import FaceSwapError

if TYPE_CHECKING:
    from obs_faceswap.voice.options import VoiceOptions


@runtime_checkable
class Converter(Protocol):
    """A stateless window converter.

    ``input_rate``/``output_rate``: the sample rates it reads and writes (the stream resamples the
    window statelessly to and from them). ``right_context_ms``: how much audio after a sample the
    converter needs to get that sample right; the stream delays its output by that much.
    Optional attributes: ``min_left_context_ms`` (history it needs at least) and ``passes_high_band``
    (the stream adds the input's band above ``input_rate / 2`` back to the output).
    """

    input_rate: int
    output_rate: int
    right_context_ms: float

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        """``window`` float32 mono at ``input_rate`` -> float32 mono at ``output_rate``, same duration,
        time-aligned with the input. Output before input sample ``keep_from`` is discarded by the
        caller, so a converter may skip work there (it must still return the full length)."""
        ...

    def update(self, options: VoiceOptions) -> None:
        """Apply live options (pitch, formant ...) without reloading anything."""
        ...

    def is_identity(self) -> bool:
        """True when the output would equal the input (the stream then skips the converter)."""
        ...


class IdentityConverter:
    """Passes audio through unchanged (used for 'enabled' off and as the neutral converter)."""

    right_context_ms = 0.0

    def __init__(self, rate: int = 16000) -> None:
        self.input_rate = rate
        self.output_rate = rate

    def convert(self, window: np.ndarray, keep_from: int) -> np.ndarray:
        return np.asarray(window, dtype=np.float32)

    def update(self, options: VoiceOptions) -> None:
        return None

    def is_identity(self) -> bool:
        return True


BACKENDS: tuple[str, ...] = ("dsp", "rvc", "openvoice")

# settings whose change needs a new converter (a model reload); the rest apply live
RELOAD_KEYS: tuple[str, ...] = ("backend", "voice_model", "content_encoder", "pitch_detector", "provider",
                                "reference_voice", "own_voice", "own_voice_profile")


def make_converter(options: VoiceOptions, *, recording: tuple[np.ndarray, int] | None = None) -> Converter:
    """Build the converter ``options.backend`` names. Raises ``FaceSwapError`` subclasses with
    what to do when the backend cannot run (no model file, wrong file, missing extra).

    ``recording`` ((channels, n) audio, rate): the whole input when converting a file; the cloning
    backends take your voice's statistics from it instead of learning them as they go."""
    backend = options.backend
    if backend == "dsp" and options.reference_voice:
        from obs_faceswap.voice.clone import CloneVoice, clone_for_file

        return clone_for_file(options, *recording) if recording is not None else CloneVoice.from_options(options)
    if backend == "openvoice":
        from obs_faceswap.voice.openvoice import OpenVoiceVoice

        return OpenVoiceVoice.from_options(options, recording=recording)
    if backend == "dsp":
        from obs_faceswap.voice.dsp import WorldVoice

        return WorldVoice.from_options(options)
    if backend == "rvc":
        from obs_faceswap.voice.rvc import RvcVoice

        return RvcVoice.from_options(options)
    raise FaceSwapError(f"unknown voice backend {backend!r}; choose one of {', '.join(BACKENDS)}")
