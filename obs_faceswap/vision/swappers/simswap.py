"""SimSwap: identity swap on a crop aligned to ``arcface_112_v1``, routed by the file's input size.

Variants (facefusion's exports; ``target`` float32 [1, 3, S, S] RGB, ``source`` float32 [1, 512],
output RGB in [0, 1]):

- ``simswap_256`` (official weights): S = 256, ImageNet mean/std normalised;
- ``simswap_unofficial_512`` (a community 512 px training): S = 512, mean 0 / std 1 (x/255 only).

Any other size is treated like the 256 model (ImageNet normalisation) at its own size.

The ``source`` is a **SimSwap-space** identity: SimSwap was trained on its own ArcFace, whose
embedding space is not w600k_r50's. As facefusion does, w600k_r50's *raw* embedding goes through
an embedding-converter model (``crossface_simswap``: ``input`` f32[N,512] -> f32[N,512]) and the
result is L2-normalised; several source photos are averaged after conversion. Feeding
w600k_r50's embedding as it is gives the wrong person.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from obs_faceswap.models.session import Session
from obs_faceswap.vision.align import Affine, warp_face
from obs_faceswap.vision.arcface import Embedding, l2_normalize
from obs_faceswap.vision.types import Face, Frame

TEMPLATE = "arcface_112_v1"
SIZE = 256
CONVERTER_ID = "crossface_simswap"  # manifest id of the embedding converter
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# input size -> (mean, std) of the target crop
NORMALISATION: dict[int, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]] = {
    256: (IMAGENET_MEAN, IMAGENET_STD),
    512: (np.zeros(3, np.float32), np.ones(3, np.float32)),
}


def input_size(session: Session) -> int:
    """The crop size of a SimSwap file: its ``target`` input's side (256 when dynamic)."""
    spec = next(t for t in session.inputs if t.name == "target")
    side = spec.shape[-1]
    return int(side) if isinstance(side, int) and side > 0 else SIZE


class SimSwap:
    name = "simswap"
    template = TEMPLATE

    def __init__(self, session: Session, converter: Session) -> None:
        self.session = session
        self.converter = converter
        self.size = input_size(session)
        self.mean, self.std = NORMALISATION.get(self.size, NORMALISATION[SIZE])

    def convert(self, raw: Embedding) -> Embedding:
        """w600k_r50's raw embedding -> the L2-normalised SimSwap-space identity."""
        x = np.asarray(raw, np.float32).reshape(1, 512)
        y = self.converter.run({"input": x})[0]
        return l2_normalize(y)

    def latent_from_raw(self, raws: Sequence[Embedding]) -> npt.NDArray[np.float32]:
        """The ``source`` input from one or more photos' raw embeddings (converted, normalised, averaged)."""
        converted = np.stack([self.convert(r) for r in raws])
        return l2_normalize(converted.mean(axis=0)).reshape(1, -1)

    def align(self, frame: Frame, face: Face) -> tuple[Frame, Affine]:
        return warp_face(frame, face.kps, TEMPLATE, self.size)

    def swap_crop(self, crop: Frame, latent: npt.NDArray[np.float32]) -> Frame:
        rgb = crop[:, :, ::-1].astype(np.float32) / 255.0
        blob = ((rgb - self.mean) / self.std).transpose(2, 0, 1)[None]
        pred = self.session.run({"target": np.ascontiguousarray(blob), "source": latent})[0]
        out = np.clip(pred[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, :, ::-1])
