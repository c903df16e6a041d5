"""inswapper_128 and ReSwapper (128/256): one-shot identity swap on an aligned crop.

Inputs: ``target`` float32 [1, 3, S, S] RGB x/255 of the crop aligned to ``arcface_128``
(S = 128; for ReSwapper-256 the template is scaled pixel centre to pixel centre, i.e. 2x + 0.5 px,
as ReSwapper's own ``estimate_norm`` aligns its training and inference crops; insightface's
``INSwapper`` scales by 2 without the half pixel, a 0.5 px shift of the whole face at 256);
``source`` float32 [1, 512] = L2-normalised (normalised ArcFace embedding @ ``emap``), where
``emap`` is the model's last initializer (512 x 512 float32). Output ``output`` RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import ModelSignatureError
from obs_faceswap.models.session import Session, invalid_model_error
from obs_faceswap.vision.align import Affine, warp_face
from obs_faceswap.vision.arcface import Embedding, l2_normalize, mean_identity
from obs_faceswap.vision.types import Face, Frame

TEMPLATE = "arcface_128"
NATIVE = 128  # the size the arcface_128 template is published for


def read_emap(path: str | Path, *, user_file: bool = True) -> npt.NDArray[np.float32]:
    """The 512 x 512 ``emap`` stored as the model's last initializer.

    A file that is not ONNX at all (corrupt, truncated, a photo) raises ``ModelError`` through
    ``invalid_model_error``, the message ``create_session`` gives for such files.
    """
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, truncated file, unreadable file ...
        raise invalid_model_error(path, exc, user_file=user_file) from None
    inits = model.graph.initializer
    emap = numpy_helper.to_array(inits[-1]) if len(inits) else None
    if emap is None or emap.shape != (512, 512) or emap.dtype not in (np.float32, np.float16):
        raise ModelSignatureError(
            f"{Path(path).name} is not an inswapper-style model: its last initializer must be the float32 "
            "512x512 'emap' (inputs target f32[1,3,S,S], source f32[1,512]; output f32[1,3,S,S])."
        )
    return emap.astype(np.float32)  # fp16 exports keep a half-precision emap


def crop_size(session: Session) -> int:
    shape = session.inputs[[t.name for t in session.inputs].index("target")].shape
    size = shape[2]
    return int(size) if isinstance(size, int) else 128


class InSwapper:
    """Neural swapper for inswapper_128 / ReSwapper ONNX files."""

    name = "inswapper"
    template = TEMPLATE

    def __init__(self, session: Session, emap: npt.NDArray[np.float32] | None = None) -> None:
        self.session = session
        self.emap = emap if emap is not None else read_emap(session.path, user_file=False)
        self.size = crop_size(session)

    def latent_from_raw(self, raws: Sequence[Embedding]) -> npt.NDArray[np.float32]:
        """The ``source`` input from one or more photos' raw ArcFace embeddings (averaged identity)."""
        return self.source_latent(mean_identity(raws))

    def source_latent(self, embedding: Embedding) -> npt.NDArray[np.float32]:
        latent = np.dot(l2_normalize(embedding).reshape(1, -1), self.emap)
        latent /= np.linalg.norm(latent)
        return latent.astype(np.float32)

    def align(self, frame: Frame, face: Face, size: int = 0) -> tuple[Frame, Affine]:
        """The aligned crop (``size`` px, default the model's) and its transform."""
        return warp_face(frame, face.kps, TEMPLATE, size or self.size, native=NATIVE)

    def swap_crop(self, crop: Frame, latent: npt.NDArray[np.float32]) -> Frame:
        """Swapped BGR uint8 crop from an aligned BGR crop."""
        blob = cv2.dnn.blobFromImage(crop, 1.0 / 255.0, (self.size, self.size), (0.0, 0.0, 0.0), swapRB=True)
        pred = self.session.run({"target": blob, "source": latent})[0]
        rgb = np.clip(255 * pred[0].transpose(1, 2, 0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb[:, :, ::-1])
