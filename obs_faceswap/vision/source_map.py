"""A different source per face: the ``source_map`` setting.

Entries are separated by ';' (or new lines), each ``KEY=PHOTO``:

- ``KEY`` a whole number: the face at that position, counted from the left (0 = left-most), as
  ``face_selection: index`` counts;
- any other ``KEY``: a reference photo; the faces of that person (face-recogniser distance within
  ``reference_threshold``) get the source.

The same key given twice adds photos to that face's source (a neural swapper averages them). Faces
named by the map are swapped with their own source whatever ``face_selection`` says; the faces the
selection picks that the map does not name get the ``source_image`` photos (when there are some).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.vision.arcface import Embedding
from obs_faceswap.vision.select import select_faces
from obs_faceswap.vision.types import Face, Frame


@dataclass(frozen=True)
class MapEntry:
    """One key of the map: a face position or a reference photo, and its source photos."""

    key: str
    photos: tuple[str, ...]

    @property
    def index(self) -> int | None:
        return int(self.key) if self.key.isdigit() else None


@dataclass
class MappedSource:
    """A map entry ready for the swap: its prepared source and, for a reference key, the person's embedding."""

    entry: MapEntry
    source: object
    reference: Embedding | None = None
    note: str = field(default="")


def parse_source_map(text: str) -> list[MapEntry]:
    """The entries of a ``source_map`` value, in order; ``FaceSwapError`` names a malformed entry."""
    keys: dict[str, list[str]] = {}
    for raw in text.replace("\n", ";").split(";"):
        item = raw.strip()
        if not item:
            continue
        key, sep, photo = item.partition("=")
        key, photo = key.strip(), photo.strip()
        if not sep or not key or not photo:
            raise FaceSwapError(f"source_map entry {item!r}: write POSITION=photo (0 = left-most face) or "
                             "reference.jpg=photo, entries separated by ';'")
        keys.setdefault(key, []).append(photo)
    return [MapEntry(k, tuple(v)) for k, v in keys.items()]


def assign_sources(faces: Sequence[Face], chosen: Sequence[Face], mapped: Sequence[MappedSource],
                   default: object | None, *, frame: Frame, threshold: float,
                   embed: Callable[[Frame, Sequence[Face]], list[Embedding]] | None) -> list[tuple[Face, object]]:
    """(face, source) for every face to swap: mapped faces first (the first entry naming a face wins),
    then the ``chosen`` faces the map left, with ``default`` (skipped when it is None)."""
    out: list[tuple[Face, object]] = []
    taken: set[int] = set()
    for m in mapped:
        if m.entry.index is not None:
            hits = select_faces(faces, "index", index=m.entry.index)
        else:
            hits = select_faces(faces, "reference", frame=frame, reference=m.reference, threshold=threshold,
                                embed=embed)
        for f in hits:
            if id(f) not in taken:
                taken.add(id(f))
                out.append((f, m.source))
    if default is not None:
        out.extend((f, default) for f in chosen if id(f) not in taken)
    return out
