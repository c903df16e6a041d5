"""``FaceOptions``: the face settings, validated once, typed, in working units.

The boundaries (the worker's face channel for values from OBS, the CLI commands for flags, the
live mode's controls) turn raw setting values into a ``FaceOptions`` with
:meth:`FaceOptions.from_settings` (or :meth:`FaceOptions.with_changes` for a partial change);
every stage inside the engine takes the object as it is and never validates or rescales again.
Ranges, defaults and choices live in ``settings.FACE_SETTINGS`` only; a setting shown in percent
(``suffix == " %"``) is a fraction 0..1 here: this module is the one place that divides by 100.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from obs_faceswap.settings import FACE_SETTINGS

PERCENT = " %"  # the suffix of settings shown in percent


def _is_percent(name: str) -> bool:
    return FACE_SETTINGS.by_name[name].suffix == PERCENT


@dataclass(frozen=True)
class FaceOptions:
    """Every ``FACE_SETTINGS`` value by its setting name; percent settings as fractions 0..1."""

    enabled: bool
    source_image: str
    swapper: str
    pixel_boost: int
    dfm_model: str
    dfm_face_type: str
    dfm_morph: float
    source_map: str
    detector: str
    embedder: str
    face_selection: str
    face_index: int
    reference_image: str
    reference_threshold: float
    blend: float
    shape_strength: float
    color_method: str
    color_strength: float
    mask_blur: float
    mask_padding: float
    mask_regions: str
    occlusion_mask: bool
    keep_mouth: bool
    mouth_size: float
    enhancer: str
    enhancer_blend: float
    codeformer_fidelity: float
    enhancer_every: int
    smoothing: float
    detect_every: int
    provider: str

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None = None, *, strict: bool = False) -> FaceOptions:
        """Validate raw setting values (defaults filled in, coerced, clamped) into options.

        Raises ``ValueError`` with a readable message for a value that cannot be used (with
        ``strict``, also for one outside its range).
        """
        checked = FACE_SETTINGS.validate(values or {}, strict=strict)
        return cls(**{name: value / 100.0 if _is_percent(name) else value for name, value in checked.items()})

    def with_changes(self, values: Mapping[str, Any]) -> FaceOptions:
        """These options with some raw setting values changed (validated here); unknown names ignored."""
        checked = FACE_SETTINGS.validate(values, partial=True)
        if not checked:
            return self
        return dataclasses.replace(
            self, **{name: value / 100.0 if _is_percent(name) else value for name, value in checked.items()})

    def as_settings(self) -> dict[str, Any]:
        """The raw setting values (percent as shown in panels and flags): what ``from_settings`` takes."""
        return {f.name: _to_setting(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)}

    def differs(self, other: FaceOptions | None, names: Iterable[str]) -> bool:
        """True when ``other`` is None or any of ``names`` has another value there."""
        return other is None or any(getattr(self, n) != getattr(other, n) for n in names)


def _to_setting(name: str, value: Any) -> Any:
    if not _is_percent(name):
        return value
    out = value * 100.0
    return int(round(out)) if isinstance(FACE_SETTINGS.by_name[name].default, int) else out
