"""The identity proxy the embedded swap is judged by (no download, no face recogniser).

A swap changes who the face is when the output's face mesh, re-detected on the output pixels and
compared after Procrustes alignment (3-D similarity), is closer to the source's mesh than to the
target's, while the pose (rotation within 3 degrees) and the mouth opening (within 15 %) are still
the target's. Pairs: the astronaut onto each of the six faces of insightface's t1.jpg, and t1's
faces onto each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.merge import swap_all
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.shape_transfer import (
    mesh3,
    mouth_opening,
    procrustes_distance,
    rigid_weights,
    rotation_angle_deg,
    similarity_fit,
)
from obs_faceswap.vision.swappers.classical import ClassicalSource, ClassicalSwapper
from obs_faceswap.vision.types import Face, Frame

MOUTH_FLOOR = 0.1  # mouth opening below this counts as closed: the 15 % is of at least this much


@dataclass
class Proxy:
    to_source: float  # Procrustes RMS distance of the output mesh to the source's, share of the face size
    to_target: float
    pose_deg: float  # rotation between the output's and the target's pose
    mouth_target: float
    mouth_output: float

    @property
    def moved(self) -> bool:
        return self.to_source < self.to_target

    @property
    def mouth_error(self) -> float:
        return abs(self.mouth_output - self.mouth_target) / max(self.mouth_target, MOUTH_FLOOR)


def face_mesh3(face: Face) -> np.ndarray:
    return mesh3(face.landmarks, face.extra.get("mesh_z"))


def t1_faces(detector: EmbeddedDetector, group: Frame) -> list[Face]:
    """The six faces of t1.jpg, left to right."""
    faces = sorted(detector.detect(group), key=lambda f: float(f.bbox[0]))
    assert len(faces) == 6
    return faces


def face_crop(img: Frame, face: Face, margin: float = 0.6) -> Frame:
    """The face with ``margin`` x its size around it (a source photo of that person)."""
    x0, y0, x1, y1 = (float(v) for v in face.bbox)
    m = margin * max(x1 - x0, y1 - y0)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[max(0, int(y0 - m)):min(h, int(y1 + m)), max(0, int(x0 - m)):min(w, int(x1 + m))])


def measure(detector: EmbeddedDetector, swap: Callable[[Frame, Face], Frame], target_img: Frame, target: Face,
            source: Face) -> tuple[Proxy, Frame]:
    """Swap ``target`` in ``target_img`` with ``swap`` and judge the output by its re-detected mesh."""
    out = swap(target_img, target)
    again = detector.track_aligned(out, [target])[0]
    assert again is not None, "no face found on the output"
    o, t, s = face_mesh3(again), face_mesh3(target), face_mesh3(source)
    _, r, _ = similarity_fit(o, t, rigid_weights(t))
    return Proxy(to_source=procrustes_distance(o, s), to_target=procrustes_distance(o, t),
                 pose_deg=rotation_angle_deg(r), mouth_target=mouth_opening(target.landmarks),
                 mouth_output=mouth_opening(again.landmarks)), out


def prepare(swapper: ClassicalSwapper, *images: Frame) -> ClassicalSource:
    """The swapper's prepared source from unnamed photos."""
    return swapper.prepare_source([("", img) for img in images]).value  # type: ignore[no-any-return]


def swap(swapper: ClassicalSwapper, frame: Frame, faces: Sequence[Face], source: ClassicalSource,
         settings: Mapping[str, object] | None = None) -> Frame:
    """The swap step for each face through the one merge stage, with these settings."""
    return swap_all(frame, faces, swapper, source, FaceOptions.from_settings(settings))
