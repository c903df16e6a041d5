"""DeepFaceLive ``.dfm`` models behind the ``Swapper`` protocol (``swapper: dfm``, ``dfm_model``).

A DFM is a DeepFaceLab model exported to ONNX for one trained identity (the "celeb"): it needs no
source photo. Per face, as DeepFaceLive's face swapper and merger do:

1. the face's landmarks (the embedded 468-point mesh, ``face_types.MESH_TO_68``) and DeepFaceLab's
   alignment for the ``dfm_face_type`` (``vision/face_types.py``, shared with the face-set
   extractor and the DFM trainer) give a square crop at the model's resolution (read from its
   ``in_face:0`` shape);
2. the model runs on the crop as BGR float32 NHWC in [0, 1] (AMP models also take
   ``morph_value:0``, the ``dfm_morph`` setting) and returns face mask, celeb face, celeb mask;
3. the record's mask is celeb mask x face mask, eroded and blurred (DeepFaceLive's defaults: erode
   5 px and blur 25 px at 224 px, scaled to the model's size; ``mask_padding`` erodes further and
   ``mask_blur`` scales the blur), faded to the crop border;
4. colour by RCT (DeepFaceLive's transfer) through the merge stage, measured under that mask
   (``color_method: none`` turns it off), then blend and paste like every swapper.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from obs_faceswap.errors import ModelError
from obs_faceswap.models.dfm_import import dfm_dir
from obs_faceswap.models.registry import load_family
from obs_faceswap.models.session import Session
from obs_faceswap.vision.embedded import EmbeddedDetector, UsesEmbeddedDetector
from obs_faceswap.vision.face_types import cut_face
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.record import ColourState, FaceRecord
from obs_faceswap.vision.swappers.base import Photos, PreparedSource, SourceTools
from obs_faceswap.vision.types import Face, Frame

INPUT = "in_face:0"
MORPH = "morph_value:0"
ERODE_224, BLUR_224 = 5.0, 25.0  # DeepFaceLive FaceMerger defaults (px at 224)
DEFAULT_MASK_BLUR = 0.30  # the mask_blur setting's default: gives DeepFaceLive's blur
DEFAULT_SIZE = 224


def resolve_dfm(choice: str) -> Path:
    """A .dfm path, or the name of one imported with ``obs-faceswap models import FILE.dfm``."""
    text = choice.strip()
    if not text:
        raise ModelError("swapper 'dfm' needs a DFM model: set 'dfm_model' (--dfm-model) to your DeepFaceLive "
                         ".dfm file, or import it with 'obs-faceswap models import FILE.dfm'")
    path = Path(text).expanduser()
    if path.is_file():
        return path
    imported = dfm_dir() / (text if text.endswith(".dfm") else f"{text}.dfm")
    if imported.is_file():
        return imported
    have = sorted(p.stem for p in dfm_dir().glob("*.dfm")) if dfm_dir().is_dir() else []
    listed = f" Imported: {', '.join(have)}." if have else ""
    raise ModelError(f"DFM model not found: {text} (a .dfm path, or a name from 'obs-faceswap models import "
                     f"FILE.dfm').{listed}")


class DfmSwapper(UsesEmbeddedDetector):
    """One DeepFaceLive model (implements ``Swapper``); the identity is the model's own."""

    needs_embedder = False
    needs_photos = False

    def __init__(self, choice: str, provider: str = "auto", *, detector: EmbeddedDetector | None = None) -> None:
        path = resolve_dfm(choice)
        self.session: Session = load_family(os.fspath(path), "dfm", provider)
        self.name = path.stem
        spec = next(t for t in self.session.inputs if t.name == INPUT)
        h, w = spec.shape[1], spec.shape[2]
        self.size = int(h) if isinstance(h, int) and h > 0 else DEFAULT_SIZE
        if isinstance(w, int) and w > 0 and w != self.size:
            raise ModelError(f"{path.name}: a DFM model's input must be square, this one is {w}x{h}")
        self.amp = any(t.name == MORPH for t in self.session.inputs)
        self._detector = detector

    def sessions(self) -> list[Session]:
        return [self.session]

    def prepare_source(self, photos: Photos, tools: SourceTools | None = None) -> PreparedSource:
        """Nothing to prepare: the face is the one the model was trained on (source photos are not used)."""
        note = f"the DFM model {self.name} swaps in its own trained face; source photos are not used" if photos else ""
        return PreparedSource(self.name, note)

    def run(self, crop: Frame, morph: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(celeb face BGR uint8, celeb mask, face mask) for an aligned ``size`` px BGR crop."""
        x = (crop.astype(np.float32) * np.float32(1.0 / 255.0))[None]
        feeds: dict[str, np.ndarray] = {INPUT: x}
        if self.amp:
            feeds[MORPH] = np.array([morph], np.float32)
        face_mask, celeb, celeb_mask = self.session.run(feeds)[:3]
        out = np.clip(np.asarray(celeb, np.float32)[0] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return (np.ascontiguousarray(out), np.asarray(celeb_mask, np.float32)[0, ..., 0],
                np.asarray(face_mask, np.float32)[0, ..., 0])

    def swap_face(self, frame: Frame, face: Face, source: object, options: FaceOptions) -> FaceRecord | None:
        meshed = face
        if face.landmarks is None or len(face.landmarks) < 468:  # another detector's face: add the mesh
            found = self.detector.track_aligned(frame, [face])[0]
            if found is None:
                return None
            meshed = found
        assert meshed.landmarks is not None
        crop, m = cut_face(frame, meshed.landmarks, options.dfm_face_type, self.size)
        celeb, celeb_mask, face_mask = self.run(crop, options.dfm_morph)
        mask = merge_mask(celeb_mask * face_mask, self.size, options)
        colour = ColourState(mask=mask, method="rct")
        return FaceRecord(face=face, crop=crop, affine=m, swapped=celeb, masks={"dfm": mask}, colour=colour)


def merge_mask(mask: np.ndarray, size: int, options: FaceOptions) -> np.ndarray:
    """DeepFaceLive's merge mask: eroded, faded to the crop border and blurred (float32 [0, 1])."""
    scale = size / 224.0
    erode = int(round(ERODE_224 * scale + options.mask_padding * size))
    blur = BLUR_224 * scale * (options.mask_blur / DEFAULT_MASK_BLUR)
    m = np.clip(mask.astype(np.float32), 0.0, 1.0)
    if erode > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    border = max(1, int(round(blur)))
    m[:border] = 0.0
    m[-border:] = 0.0
    m[:, :border] = 0.0
    m[:, -border:] = 0.0
    if blur > 0:
        m = cv2.GaussianBlur(m, (0, 0), blur / 2.0)
    return m
