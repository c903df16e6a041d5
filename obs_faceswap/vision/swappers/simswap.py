"""SimSwap 256: identity swap on a 256 px crop aligned to ``arcface_112_v1``.

Inputs: ``target`` float32 [1, 3, 256, 256] RGB, ImageNet mean/std normalised; ``source``
float32 [1, 512] normalised ArcFace embedding. Output ``output`` RGB in [0, 1].
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from obs_faceswap.models.session import Session
from obs_faceswap.vision.align import Affine, warp_face
from obs_faceswap.vision.arcface import Embedding, l2_normalize
from obs_faceswap.vision.types import Face, Frame

TEMPLATE = "arcface_112_v1"
SIZE = 256
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class SimSwap:
    name = "simswap"
    template = TEMPLATE
    size = SIZE

    def __init__(self, session: Session) -> None:
        self.session = session

    def source_latent(self, embedding: Embedding) -> npt.NDArray[np.float32]:
        return l2_normalize(embedding).reshape(1, -1)

    def align(self, frame: Frame, face: Face) -> tuple[Frame, Affine]:
        return warp_face(frame, face.kps, TEMPLATE, SIZE)

    def swap_crop(self, crop: Frame, latent: npt.NDArray[np.float32]) -> Frame:
        rgb = crop[:, :, ::-1].astype(np.float32) / 255.0
        blob = ((rgb - MEAN) / STD).transpose(2, 0, 1)[None]
        pred = self.session.run({"target": np.ascontiguousarray(blob), "source": latent})[0]
        out = np.clip(pred[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, :, ::-1])
