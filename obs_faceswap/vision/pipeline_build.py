"""Building the face pipeline's stages from ``FaceOptions``.

The detector choice (SCRFD or the embedded one, tracked in live mode), the swapper (the embedded
classical one or a neural model routed by signature), and the note saying where the models ran.
Models load through ``models.registry.load_family``, so every session comes from the session
cache (``models/session.py``): a stage rebuilt with the same file and provider reuses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.models.registry import is_installed as _registry_is_installed
from obs_faceswap.models.registry import load_family
from obs_faceswap.models.session import PROVIDER_NAMES
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.scrfd import ScrfdDetector
from obs_faceswap.vision.swappers.base import Swapper
from obs_faceswap.vision.swappers.classical import ClassicalSwapper
from obs_faceswap.vision.swappers.dfm import DfmSwapper
from obs_faceswap.vision.swappers.neural import build_neural_swapper
from obs_faceswap.vision.tracking import TrackedDetector
from obs_faceswap.vision.types import FaceDetector

DEFAULT_DETECTOR_ID = "det_10g"
DEFAULT_EMBEDDER_ID = "w600k_r50"
EMBEDDED = "embedded"  # the swapper/detector setting value of the models that ship with the project
DFM = "dfm"  # the swapper setting value that runs the DeepFaceLive model named by ``dfm_model``


def is_installed(model_id: str) -> bool:
    """The model is installed; False for an unknown id too."""
    try:
        return _registry_is_installed(model_id)
    except FaceSwapError:  # unknown id, manifest missing: not installed
        return False


def build_detector(options: FaceOptions) -> FaceDetector:
    choice = options.detector.strip() or "auto"
    if choice == EMBEDDED or (choice == "auto" and not is_installed(DEFAULT_DETECTOR_ID)):
        return EmbeddedDetector(provider=options.provider)
    return ScrfdDetector(load_family(DEFAULT_DETECTOR_ID if choice == "auto" else choice, "scrfd", options.provider))


def wrap_tracking(detector: FaceDetector, options: FaceOptions) -> FaceDetector:
    """Live mode: detect every N frames and track in between."""
    return TrackedDetector(detector, detect_every=options.detect_every, smoothing=options.smoothing)


def build_swapper(options: FaceOptions, detector: FaceDetector) -> Swapper:
    """The swapper the ``swapper`` setting names; the embedded one shares an embedded ``detector``'s mesh model."""
    choice = options.swapper.strip() or EMBEDDED
    if choice == EMBEDDED:
        return ClassicalSwapper(detector=detector if isinstance(detector, EmbeddedDetector) else None)
    if choice == DFM:
        return DfmSwapper(options.dfm_model, options.provider,
                          detector=detector if isinstance(detector, EmbeddedDetector) else None)
    return build_neural_swapper(choice, options.provider)


def provider_note(asked: str, used: Sequence[str]) -> str:
    """A note when ``asked`` (a ``provider`` choice such as 'cuda') is not among the ORT providers
    ``used``: ``note: CUDA is not available here; ran on CPU``. '' for 'auto' or when it ran there."""
    ort_name = PROVIDER_NAMES.get(asked.lower())
    if not asked or asked == "auto" or ort_name is None or not used or ort_name in used:
        return ""
    label = {v: k for k, v in PROVIDER_NAMES.items()}
    names = {"tensorrt": "TensorRT", "cuda": "CUDA", "directml": "DirectML", "coreml": "CoreML", "cpu": "CPU"}
    ran = ", ".join(names.get(label.get(u, ""), u.removesuffix("ExecutionProvider")) for u in used)
    return f"note: {names.get(asked.lower(), asked)} is not available here; ran on {ran}"
