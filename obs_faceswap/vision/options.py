"""``FaceOptions``: the face settings, validated once, typed, in working units.

The boundaries (the worker's face channel for values from OBS, the CLI commands for flags, the
live mode's controls) turn raw setting values into a ``FaceOptions`` with
:meth:`FaceOptions.from_settings` (or :meth:`FaceOptions.with_changes` for a partial change);
every stage inside the engine takes the object as it is and never validates or rescales again.
Ranges, defaults and choices live in ``settings.FACE_SETTINGS`` only; a setting shown in percent
(``suffix == " %"``) is a fraction 0..1 here (``options_base.SchemaOptions``, shared with
``VoiceOptions``, is the one place that divides by 100).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from obs_faceswap.options_base import SchemaOptions
from obs_faceswap.settings import FACE_SETTINGS, Schema


@dataclass(frozen=True)
class FaceOptions(SchemaOptions):
    """Every ``FACE_SETTINGS`` value by its setting name; percent settings as fractions 0..1."""

    SCHEMA: ClassVar[Schema] = FACE_SETTINGS

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
    lipsync: bool
    lipsync_audio_source: str
