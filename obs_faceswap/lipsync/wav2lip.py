"""Wav2Lip-class lip sync: a user-supplied ONNX export run on Wav2Lip's exact inputs.

Per video frame (facts from Wav2Lip's ``inference.py``): the face box (bottom padded by
``BOTTOM_PAD`` of its height, Wav2Lip's 10 px at its typical face size) is resized to 96x96 BGR;
a copy with the lower half (rows 48..95) zeroed and the unmasked reference are concatenated on
channels and divided by 255 -> ``target`` (1, 6, 96, 96); the frame's mel chunk (``mel``) ->
``source`` (1, 1, 80, 16). The output (1, 3, 96, 96) BGR in [0, 1] goes back into the frame through
the project's ``paste_back`` with its soft ``box_mask``, limited to the lower face (the model only
redraws the mouth region; the rest of the crop stays the original pixels).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.lipsync.mel import MEL_STEP, N_MELS
from obs_faceswap.models.session import Session
from obs_faceswap.vision.masks import box_mask
from obs_faceswap.vision.paste import paste_back
from obs_faceswap.vision.types import Face, Frame, Mask

SIZE = 96
BOTTOM_PAD = 0.05  # share of the box height added below the chin (Wav2Lip's pads = [0, 10, 0, 0])
PASTE_BLUR = 0.2  # soft edge of the pasted crop (share of its size)
KEEP_TOP = (0.40, 0.55)  # the pasted weight ramps from 0 to 1 between these rows (share of the crop)

Box = tuple[int, int, int, int]  # x1, y1, x2, y2


def face_box(face: Face, shape: tuple[int, ...]) -> Box:
    """The crop box of a face: its bbox with the bottom pad, clipped to the frame (Wav2Lip's recipe)."""
    h, w = shape[:2]
    x1, y1, x2, y2 = (float(v) for v in face.bbox)
    y2 += BOTTOM_PAD * (y2 - y1)
    return (max(0, int(round(x1))), max(0, int(round(y1))), min(w, int(round(x2))), min(h, int(round(y2))))


def crop_matrix(box: Box) -> npt.NDArray[np.float64]:
    """2x3 affine frame -> 96x96 crop of ``box`` (a plain, possibly non-uniform, scale and shift)."""
    x1, y1, x2, y2 = box
    sx, sy = SIZE / max(x2 - x1, 1), SIZE / max(y2 - y1, 1)
    return np.array([[sx, 0.0, -x1 * sx], [0.0, sy, -y1 * sy]], np.float64)


def face_crop(frame: Frame, box: Box) -> Frame:
    """The 96x96 BGR crop of ``box`` (``cv2.resize``, bilinear, as Wav2Lip)."""
    x1, y1, x2, y2 = box
    return cv2.resize(frame[y1:y2, x1:x2], (SIZE, SIZE))  # type: ignore[no-any-return]


def target_tensor(crop: Frame, reference: Frame | None = None) -> npt.NDArray[np.float32]:
    """(1, 6, 96, 96) float32: ``crop`` with rows 48.. zeroed, then ``reference`` (default ``crop``), /255."""
    ref = crop if reference is None else reference
    masked = crop.copy()
    masked[SIZE // 2:] = 0
    both = np.concatenate([masked, ref], axis=2).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(both.transpose(2, 0, 1)[None])


def source_tensor(chunk: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(1, 1, 80, 16) float32 from one mel chunk."""
    if chunk.shape != (N_MELS, MEL_STEP):
        raise ValueError(f"a mel chunk is ({N_MELS}, {MEL_STEP}), got {chunk.shape}")
    return np.ascontiguousarray(chunk, np.float32)[None, None]


def paste_mask() -> Mask:
    """The weight of the model's output in the crop: the soft box, faded out over the upper face."""
    rows = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
    lo, hi = KEEP_TOP
    ramp = np.clip((rows - lo) / (hi - lo), 0.0, 1.0)[:, None]
    return np.minimum(box_mask(SIZE, blur=PASTE_BLUR), ramp).astype(np.float32)  # type: ignore[no-any-return]


def output_crop(output: npt.NDArray[np.float32]) -> Frame:
    """The model's (1, 3, 96, 96) BGR [0, 1] output as a 96x96 uint8 BGR crop."""
    return np.clip(output[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)  # type: ignore[no-any-return]


class Wav2LipSync:
    """Runs a Wav2Lip-family session on frames (see the module docstring)."""

    name = "wav2lip"

    def __init__(self, session: Session) -> None:
        self.session = session
        self.mask = paste_mask()

    @classmethod
    def load(cls, model: str = "wav2lip", provider: str = "auto") -> Wav2LipSync:
        """Load an installed model id or an .onnx path, checked against the ``wav2lip`` signature."""
        from obs_faceswap.models.registry import load_model

        return cls(load_model(model, "wav2lip", provider))

    def infer(self, chunk: npt.NDArray[np.float32], crop: Frame, reference: Frame | None = None) -> Frame:
        """The model's 96x96 face for one mel chunk and one crop."""
        out = self.session.run({"source": source_tensor(chunk), "target": target_tensor(crop, reference)})[0]
        return output_crop(np.asarray(out, np.float32))

    def render(self, frame: Frame, face: Face, chunk: npt.NDArray[np.float32],
               reference: Frame | None = None) -> Frame:
        """A copy of ``frame`` with ``face``'s mouth redrawn for ``chunk``."""
        box = face_box(face, frame.shape)
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            return frame.copy()
        crop = face_crop(frame, box)
        pred = self.infer(chunk, crop, reference)
        return paste_back(frame.copy(), pred, crop_matrix(box), self.mask)
