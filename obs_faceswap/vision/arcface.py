"""ArcFace identity embeddings (insightface w600k_r50 and compatible recognisers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import NoFaceError
from obs_faceswap.models.session import Session
from obs_faceswap.vision.align import warp_face
from obs_faceswap.vision.types import Face, Frame

TEMPLATE = "arcface_112_v2"
SIZE = 112

Embedding = npt.NDArray[np.float32]


def l2_normalize(v: npt.ArrayLike) -> Embedding:
    a = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n <= 0.0:
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return a / n


def cosine_distance(a: Embedding, b: Embedding) -> float:
    """1 - cosine similarity of two L2-normalised embeddings (0 = same, 2 = opposite)."""
    return float(1.0 - np.dot(a.reshape(-1), b.reshape(-1)))


class ArcFace:
    """Embeds aligned faces; ``embed`` returns L2-normalised 512-d vectors."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._input = session.input_names[0]

    def sessions(self) -> list[Session]:
        return [self.session]

    def embed_faces_raw(self, frame: Frame, faces: Sequence[Face]) -> list[Embedding]:
        """The model's raw (not normalised) embeddings: what embedding converters take."""
        if not faces:
            return []
        crops = [warp_face(frame, f.kps, TEMPLATE, SIZE)[0] for f in faces]
        blob = cv2.dnn.blobFromImages(crops, 1.0 / 127.5, (SIZE, SIZE), (127.5, 127.5, 127.5), swapRB=True)
        raw = np.asarray(self.session.run({self._input: blob})[0], dtype=np.float32)
        return list(raw)

    def embed_faces(self, frame: Frame, faces: Sequence[Face]) -> list[Embedding]:
        return [l2_normalize(r) for r in self.embed_faces_raw(frame, faces)]

    def embed(self, frame: Frame, face: Face) -> Embedding:
        return self.embed_faces(frame, [face])[0]


def largest_face(faces: Sequence[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area) if faces else None


def source_embeddings(
    images: Sequence[tuple[str, Frame]], detect: Callable[[Frame], list[Face]], embedder: ArcFace
) -> list[Embedding]:
    """The raw embedding of each photo's largest face.

    ``images`` are (name, frame) pairs; a photo without a face raises ``NoFaceError`` naming it.
    """
    if not images:
        raise NoFaceError("no source photo given: choose one or more photos of the face to use")
    embs = []
    for name, img in images:
        face = largest_face(detect(img))
        if face is None:
            raise NoFaceError(f"no face found in the source photo {name}: use a clear, front-facing photo")
        embs.append(embedder.embed_faces_raw(img, [face])[0])
    return embs


def mean_identity(raws: Sequence[Embedding]) -> Embedding:
    """One identity from several raw embeddings: the normalised mean of the normalised ones."""
    return l2_normalize(np.mean(np.stack([l2_normalize(r) for r in raws]), axis=0))


def source_identity(
    images: Sequence[tuple[str, Frame]], detect: Callable[[Frame], list[Face]], embedder: ArcFace
) -> Embedding:
    """One identity from several photos: the normalised mean of each photo's largest-face embedding.

    ``images`` are (name, frame) pairs; a photo without a face raises ``NoFaceError`` naming it.
    """
    return mean_identity(source_embeddings(images, detect, embedder))
