"""``SchemaOptions``: what ``FaceOptions`` and ``VoiceOptions`` share: validate once, then typed.

A subclass is a frozen dataclass with one field per setting of its ``SCHEMA`` (``settings.py``).
Values come in as the panels and flags show them and are kept in working units: a setting shown in
percent (``suffix == " %"``) is a fraction 0..1. This is the one place that validates setting values
into options and the one place that divides by 100. A value outside its setting's range is refused
(``ValueError`` naming the range), wherever it comes from: a CLI flag, or a value from OBS that its
slider could not produce (a scene collection edited by hand, an obs-websocket script). The worker
then keeps the running value and shows the refusal in the filter's status line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from obs_faceswap.settings import Schema

PERCENT = " %"  # the suffix of settings shown in percent


class SchemaOptions:
    """Base of the typed, validated settings objects (see the module docstring)."""

    SCHEMA: ClassVar[Schema]

    @classmethod
    def from_settings(cls, values: Mapping[str, Any] | None = None, *, strict: bool = True) -> Self:
        """Validate raw setting values (defaults filled in, coerced) into options.

        Raises ``ValueError`` with a readable message for a value that cannot be used, or (unless
        ``strict`` is False: clamped then) one outside its range.
        """
        return cls(**cls._working(cls.SCHEMA.validate(values or {}, strict=strict)))

    def with_changes(self, values: Mapping[str, Any], *, strict: bool = True) -> Self:
        """These options with some raw setting values changed (validated here, refused outside their
        range unless ``strict`` is False); unknown names ignored."""
        checked = self.SCHEMA.validate(values, partial=True, strict=strict)
        return dataclasses.replace(self, **self._working(checked)) if checked else self  # type: ignore[type-var]

    def as_settings(self) -> dict[str, Any]:
        """The raw setting values (percent as shown in panels and flags): what ``from_settings`` takes."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if self._is_percent(f.name):
                value = value * 100.0
                if isinstance(self.SCHEMA.by_name[f.name].default, int):
                    value = int(round(value))
            out[f.name] = value
        return out

    def differs(self, other: Self | None, names: Iterable[str]) -> bool:
        """True when ``other`` is None or any of ``names`` has another value there."""
        return other is None or any(getattr(self, n) != getattr(other, n) for n in names)

    @classmethod
    def _is_percent(cls, name: str) -> bool:
        return cls.SCHEMA.by_name[name].suffix == PERCENT

    @classmethod
    def _working(cls, checked: Mapping[str, Any]) -> dict[str, Any]:
        return {name: value / 100.0 if cls._is_percent(name) else value for name, value in checked.items()}
