"""``VoiceOptions``: the voice settings, validated once, typed, in working units.

The boundaries (the worker's audio channel for values from OBS, the ``voice`` command for flags,
scripts and tests that start from raw values) turn raw setting values into a ``VoiceOptions`` with
:meth:`VoiceOptions.from_settings` (or :meth:`VoiceOptions.with_changes` for a partial change);
the engine and the converters take the object as it is and never validate or rescale again.
Ranges, defaults and choices live in ``settings.VOICE_SETTINGS`` only; a setting shown in percent
(``mix``) is a fraction 0..1 here: this module is the one place that divides by 100.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from obs_faceswap.settings import VOICE_SETTINGS
from obs_faceswap.vision.options import PERCENT


def _is_percent(name: str) -> bool:
    return VOICE_SETTINGS.by_name[name].suffix == PERCENT


def _working(checked: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value / 100.0 if _is_percent(name) else value for name, value in checked.items()}


@dataclass(frozen=True)
class VoiceOptions:
    """Every ``VOICE_SETTINGS`` value by its setting name; ``mix`` as a fraction 0..1."""

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

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None = None, *, strict: bool = False) -> VoiceOptions:
        """Validate raw setting values (defaults filled in, coerced, clamped) into options.

        Raises ``ValueError`` with a readable message for a value that cannot be used (with
        ``strict``, also for one outside its range).
        """
        return cls(**_working(VOICE_SETTINGS.validate(values or {}, strict=strict)))

    def with_changes(self, values: Mapping[str, Any]) -> VoiceOptions:
        """These options with some raw setting values changed (validated here); unknown names ignored."""
        checked = VOICE_SETTINGS.validate(values, partial=True)
        return dataclasses.replace(self, **_working(checked)) if checked else self

    def as_settings(self) -> dict[str, Any]:
        """The raw setting values (percent as shown in panels and flags): what ``from_settings`` takes."""
        return {f.name: _to_setting(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)}

    def differs(self, other: VoiceOptions, names: Iterable[str]) -> bool:
        """True when any of ``names`` has another value in ``other``."""
        return any(getattr(self, n) != getattr(other, n) for n in names)


def _to_setting(name: str, value: Any) -> Any:
    if not _is_percent(name):
        return value
    out = value * 100.0
    return int(round(out)) if isinstance(VOICE_SETTINGS.by_name[name].default, int) else out
