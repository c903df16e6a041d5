"""Stand-in face models for the tests: re-exported from ``obs_faceswap.models.standins.face``.

The builders are product code (``obs-faceswap bench`` uses them when no real model is installed);
only the test-only ``FixedDetector`` lives here.
"""

from __future__ import annotations

import numpy as np

from obs_faceswap.models.standins.face import (  # noqa: F401  (re-exported for the tests)
    ASTRONAUT_BOX,
    ASTRONAUT_KPS,
    STRIDES,
    PlacedFace,
    build_arcface,
    build_embedding_converter,
    build_inswapper,
    build_scrfd,
    build_simswap,
    scrfd_outputs,
)


class FixedDetector:
    """A ``FaceDetector`` that reports the given faces for every frame of the given (h, w)."""

    name = "fixed"

    def __init__(self, faces_by_size: dict[tuple[int, int], list]) -> None:  # type: ignore[type-arg]
        self.faces_by_size = faces_by_size
        self.calls = 0

    def detect(self, frame: np.ndarray) -> list:  # type: ignore[type-arg]
        from obs_faceswap.vision.types import Face

        self.calls += 1
        out = []
        for f in self.faces_by_size.get(frame.shape[:2], []):
            out.append(Face(bbox=np.asarray(f.bbox, np.float32), score=float(f.score),
                            kps=np.asarray(f.kps, np.float32).reshape(5, 2)))
        return out
