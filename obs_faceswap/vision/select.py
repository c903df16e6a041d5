"""Which detected faces get swapped: largest, all, by position, or matching a reference person."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from obs_faceswap.vision.arcface import Embedding, cosine_distance
from obs_faceswap.vision.types import Face, Frame

MODES: tuple[str, ...] = ("largest", "all", "index", "reference")


def select_faces(
    faces: Sequence[Face],
    mode: str,
    *,
    index: int = 0,
    frame: Frame | None = None,
    reference: Embedding | None = None,
    threshold: float = 0.6,
    embed: Callable[[Frame, Sequence[Face]], list[Embedding]] | None = None,
) -> list[Face]:
    """The faces to swap. ``index`` counts left to right from 0. ``reference`` mode keeps faces
    whose embedding is within ``threshold`` (cosine distance) of ``reference``; faces without an
    embedding are embedded with ``embed(frame, faces)``.
    """
    if not faces:
        return []
    if mode == "all":
        return list(faces)
    if mode == "largest":
        return [max(faces, key=lambda f: f.area)]
    if mode == "index":
        ordered = sorted(faces, key=lambda f: f.center[0])
        return [ordered[index]] if 0 <= index < len(ordered) else []
    if mode == "reference":
        if reference is None:
            return []
        missing = [f for f in faces if f.embedding is None]
        if missing:
            if embed is None or frame is None:
                raise ValueError("reference selection needs face embeddings")
            for f, e in zip(missing, embed(frame, missing), strict=True):
                f.embedding = e
        return [f for f in faces if f.embedding is not None and cosine_distance(f.embedding, reference) <= threshold]
    raise ValueError(f"unknown face selection {mode!r}; use one of {', '.join(MODES)}")
