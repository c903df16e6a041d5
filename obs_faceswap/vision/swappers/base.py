"""The ``Swapper`` protocol: what every face swapper implements.

A swapper turns source photos into a prepared source once (``prepare_source``), then makes one
:class:`~obs_faceswap.vision.record.FaceRecord` per target face (``swap_face``): the swap step
only. Blending, mask combination, colour and the paste belong to the merge stage
(``vision/merge.py``), the same for every swapper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.record import FaceRecord
from obs_faceswap.vision.types import Face, Frame

if TYPE_CHECKING:
    from obs_faceswap.models.session import Session
    from obs_faceswap.vision.arcface import ArcFace

Photos = Sequence[tuple[str, Frame]]  # (file name, image) per source photo


@dataclass
class SourceTools:
    """What a swapper may use to read source photos: the pipeline's (untracked) detector and, for
    identity-embedding swappers, its face recogniser."""

    detect: Callable[[Frame], list[Face]]
    embedder: ArcFace | None = None


@dataclass
class PreparedSource:
    """A source ready for ``swap_face``; ``note`` says how several photos were used ('' for one)."""

    value: object
    note: str = ""


class Swapper(Protocol):
    name: str
    needs_embedder: bool  # prepare_source needs ``SourceTools.embedder``
    needs_photos: bool  # False: the identity is the model's own (DFM), prepare_source takes no photo

    def prepare_source(self, photos: Photos, tools: SourceTools) -> PreparedSource:
        """The source identity from one or more photos; raises ``NoFaceError`` naming a photo without a face."""
        ...

    def swap_face(self, frame: Frame, face: Face, source: object, options: FaceOptions) -> FaceRecord | None:
        """The swap step for one face of ``frame`` (never written); None when this face cannot be swapped."""
        ...

    def sessions(self) -> list[Session]:
        """The ONNX sessions this swapper runs (none for the classical one)."""
        ...
