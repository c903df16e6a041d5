"""Identity-embedding swappers (inswapper/ReSwapper, SimSwap) behind the ``Swapper`` protocol.

The swap step aligns the face to the model's template, runs the model on the crop and records
the crop, its transform, the swapped crop and the box mask (``mask_blur`` / ``mask_padding``).
With ``pixel_boost`` above the model's size (a multiple of it: inswapper/ReSwapper-128 at
256/384/512) the crop is made at that size and swapped by polyphase sub-images
(``vision/pixel_boost.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from obs_faceswap.errors import FaceSwapError, ModelError, ModelSignatureError
from obs_faceswap.models import registry
from obs_faceswap.models.device import BoundSession, session_device
from obs_faceswap.models.registry import load_family, looks_like_path
from obs_faceswap.models.session import Session
from obs_faceswap.vision import pixel_boost
from obs_faceswap.vision.arcface import source_embeddings
from obs_faceswap.vision.masks import box_mask
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.record import FaceRecord
from obs_faceswap.vision.swappers.base import Photos, PreparedSource, SourceTools
from obs_faceswap.vision.swappers.batch import swap_crops
from obs_faceswap.vision.swappers.inswapper import InSwapper, read_emap
from obs_faceswap.vision.swappers.simswap import CONVERTER_ID, SimSwap
from obs_faceswap.vision.types import Face, Frame

SWAPPER_FAMILIES = ("inswapper", "simswap")


class NeuralSwapper:
    """An identity-embedding swapper over its ONNX session (implements ``Swapper``)."""

    needs_embedder = True
    needs_photos = True

    def __init__(self, model: InSwapper | SimSwap, name: str) -> None:
        self.model = model
        self.name = name
        self.size: int = model.size
        self.template: str = model.template
        self.session: Session = model.session
        # on a GPU the model runs through IO binding (device buffers reused frame after frame)
        self._runner = BoundSession(model.session) if session_device(model.session) == "cuda" else None

    def prepare_source(self, photos: Photos, tools: SourceTools) -> PreparedSource:
        """The photos' averaged identity as the model's latent (``source`` input)."""
        assert tools.embedder is not None, "a neural swapper needs the face recogniser"
        raws = source_embeddings(photos, tools.detect, tools.embedder)
        note = f"identity averaged over {len(photos)} source photos" if len(photos) > 1 else ""
        return PreparedSource(self.model.latent_from_raw(raws), note)

    def swap_face(self, frame: Frame, face: Face, source: object, options: FaceOptions) -> FaceRecord:
        return self.swap_faces(frame, [face], source, options)[0]

    def swap_faces(self, frame: Frame, faces: Sequence[Face], source: object, options: FaceOptions) -> list[FaceRecord]:
        """One record per face; an inswapper-family model with a dynamic batch axis swaps them in one run
        (``swappers.batch``), through IO binding when it runs on a GPU."""
        latent: npt.NDArray[np.float32] = source  # type: ignore[assignment]
        k = pixel_boost.factor(options.pixel_boost, self.size)
        if k <= 1 or not isinstance(self.model, InSwapper):
            k = 1
        aligned = [self.model.align(frame, face, self.size * k) if k > 1 else self.model.align(frame, face)
                   for face in faces]
        if isinstance(self.model, InSwapper):  # every face's (pixel-boost) sub-images in one batch
            parts = [part for crop, _ in aligned for part in pixel_boost.split(crop, k)]
            done = swap_crops(self.model, parts, latent, runner=self._runner)
            swapped = [pixel_boost.join(done[i * k * k:(i + 1) * k * k], k) for i in range(len(faces))]
        else:
            swapped = [self.model.swap_crop(crop, latent) for crop, _ in aligned]
        pad = options.mask_padding
        box = box_mask(self.size * k, (pad, pad, pad, pad), options.mask_blur)
        return [FaceRecord(face=face, crop=crop, affine=m, swapped=out, masks={"box": box})
                for face, (crop, m), out in zip(faces, aligned, swapped, strict=True)]

    def sessions(self) -> list[Session]:
        return [self.session]


def build_neural_swapper(choice: str, provider: str) -> NeuralSwapper:
    """A model id or .onnx path -> inswapper-family or SimSwap swapper (routed by signature like insightface)."""
    family = ""
    if not looks_like_path(choice):
        try:
            family = str(registry.get_entry(choice).family)
        except FaceSwapError:
            family = ""
    guessed = not family
    if not family:
        path = Path(choice)
        if not path.is_file():
            registry.resolve_model(choice)  # raises a ModelError that says how to get it
            raise ModelError(f"swapper model not found: {choice}")
        try:
            read_emap(path)  # a corrupt or non-ONNX file raises ModelError here, before any guessing
            family = "inswapper"
        except ModelSignatureError:
            family = "simswap"
    if family not in SWAPPER_FAMILIES:
        raise ModelError(f"{choice} is a {family} model, not a face swapper (use inswapper_128, a ReSwapper "
                         "or a SimSwap model)")
    try:
        session = load_family(choice, family, provider)
    except ModelSignatureError as exc:
        if not guessed:
            raise
        raise ModelSignatureError(
            f"{Path(choice).name} is not a face swapper: an inswapper/ReSwapper file needs inputs target "
            "float32[1,3,S,S] and source float32[1,512], output float32[1,3,S,S] and a float32 512x512 'emap' as "
            f"its last initializer; a SimSwap file the same inputs/output without the emap. ({exc})") from None
    if family == "inswapper":
        return NeuralSwapper(InSwapper(session), Path(session.path).stem)
    return NeuralSwapper(SimSwap(session, load_converter(Path(session.path), provider)), Path(session.path).stem)


def load_converter(swapper_file: Path, provider: str) -> Session:
    """SimSwap's embedding converter: ``crossface_simswap.onnx`` beside the SimSwap file (where
    facefusion keeps it), else the installed ``crossface_simswap`` model."""
    beside = swapper_file.with_name(f"{CONVERTER_ID}.onnx")
    try:
        return load_family(str(beside) if beside.is_file() else CONVERTER_ID, "embedding_converter", provider)
    except ModelSignatureError:
        raise
    except ModelError as exc:
        raise ModelError(f"SimSwap needs its identity converter (w600k_r50 -> SimSwap's ArcFace space): {exc}") from None
