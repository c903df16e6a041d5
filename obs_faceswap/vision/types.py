"""What travels between the face stages.

Frames are ``uint8`` BGR arrays of shape (H, W, 3), C-contiguous. Coordinates are float32
pixels in the frame, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

Frame: TypeAlias = npt.NDArray[np.uint8]
Points: TypeAlias = npt.NDArray[np.float32]  # (N, 2)
Mask: TypeAlias = npt.NDArray[np.float32]  # (H, W) in [0, 1]


@dataclass
class Face:
    """One face found in a frame.

    ``kps`` are the 5 key points in insightface order: left eye, right eye (as seen in the
    image: smaller x first), nose tip, left mouth corner, right mouth corner.
    """

    bbox: npt.NDArray[np.float32]  # (4,) x1, y1, x2, y2
    score: float
    kps: Points  # (5, 2)
    landmarks: Points | None = None  # dense landmarks (e.g. 468/478 face-mesh points), optional
    embedding: npt.NDArray[np.float32] | None = None  # L2-normalised identity vector, optional
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = (float(v) for v in self.bbox)
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = (float(v) for v in self.bbox)
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0


class FaceDetector(Protocol):
    def detect(self, frame: Frame) -> list[Face]:
        """All faces in ``frame``, each with bbox, score and 5 key points."""
        ...
