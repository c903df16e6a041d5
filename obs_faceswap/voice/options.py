"""``VoiceOptions``: the voice settings, validated once, typed, in working units.

The boundaries (the worker's audio channel for values from OBS, the ``voice`` command for flags,
scripts and tests that start from raw values) turn raw setting values into a ``VoiceOptions`` with
:meth:`VoiceOptions.from_settings` (or :meth:`VoiceOptions.with_changes` for a partial change);
the engine and the converters take the object as it is and never validate or rescale again.
Ranges, defaults and choices live in ``settings.VOICE_SETTINGS`` only; a setting shown in percent
(``mix``) is a fraction 0..1 here (``options_base.SchemaOptions``: the one place that divides by 100).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obs_faceswap.options_base import SchemaOptions
from obs_faceswap.settings import VOICE_SETTINGS, Schema


@dataclass(frozen=True)
class VoiceOptions(SchemaOptions):
    """Every ``VOICE_SETTINGS`` value by its setting name; ``mix`` as a fraction 0..1."""

    SCHEMA: ClassVar[Schema] = VOICE_SETTINGS

    enabled: bool
    backend: str
    reference_voice: str
    own_voice: str
    own_voice_profile: str
    pitch: float
    formant: float
    voice_model: str
    content_encoder: str
    pitch_detector: str
    block_ms: int
    crossfade_ms: int
    context_ms: int
    mix: float
    gate_db: float
    provider: str
