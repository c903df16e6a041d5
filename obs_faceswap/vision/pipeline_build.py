"""Building the face pipeline's stages from ``FACE_SETTINGS`` values.

Model loading (a manifest id through the registry, or a user's .onnx file checked against its
family's signature), the detector choice (SCRFD or the embedded one, tracked in live mode), the
neural swapper routed by signature (inswapper/ReSwapper or SimSwap), and the note saying where
the models ran. ``FacePipeline`` (``vision/pipeline.py``) assembles these; the names are
importable from there too.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.errors import FaceSwapError, ModelError, ModelSignatureError
from obs_faceswap.models.session import Session, create_session
from obs_faceswap.vision import arcface as arcface_mod
from obs_faceswap.vision import inswapper as inswapper_mod
from obs_faceswap.vision import scrfd as scrfd_mod
from obs_faceswap.vision import simswap as simswap_mod
from obs_faceswap.vision.arcface import Embedding
from obs_faceswap.vision.inswapper import InSwapper, read_emap
from obs_faceswap.vision.scrfd import ScrfdDetector
from obs_faceswap.vision.simswap import SimSwap
from obs_faceswap.vision.types import FaceDetector

DEFAULT_DETECTOR_ID = "det_10g"

DEFAULT_EMBEDDER_ID = "w600k_r50"

_LOCAL_SIGNATURES = {
    "scrfd": (scrfd_mod.INPUTS, scrfd_mod.OUTPUTS),
    "arcface": (arcface_mod.INPUTS, arcface_mod.OUTPUTS),
    "inswapper": (inswapper_mod.INPUTS, inswapper_mod.OUTPUTS),
    "simswap": (simswap_mod.INPUTS, simswap_mod.OUTPUTS),
}



def _registry() -> Any | None:
    try:
        from obs_faceswap.models import registry
    except ImportError:
        return None
    return registry



def _looks_like_path(value: str) -> bool:
    return value.lower().endswith(".onnx") or "/" in value or "\\" in value or Path(value).is_file()



def _signature(family: str) -> tuple[Any, Any]:
    try:
        from obs_faceswap.models.signatures import family_signature
    except ImportError:
        return _LOCAL_SIGNATURES[family]
    return family_signature(family)  # type: ignore[no-any-return]



def load_family(id_or_path: str, family: str, provider: str = "auto") -> Session:
    """Load a model id (through the registry) or a file, checked against ``family``'s signature."""
    if Path(id_or_path).expanduser().is_file():  # a file the user named
        ins, outs = _signature(family)
        return create_session(Path(id_or_path).expanduser(), provider, expect_inputs=ins, expect_outputs=outs,
                              family=family, user_file=True)
    reg = _registry()
    if reg is None or _looks_like_path(id_or_path):
        raise ModelError(f"{family} model not found: {id_or_path} (pass a model id from 'obs-faceswap models "
                         "list' or the path of an existing .onnx file)")
    return reg.load_model(id_or_path, family, provider)  # type: ignore[no-any-return]



def is_installed(model_id: str) -> bool:
    reg = _registry()
    if reg is None:
        return False
    try:
        return bool(reg.is_installed(model_id))
    except Exception:  # unknown id, manifest missing: not installed
        return False



def _construct(cls: Any, settings: Mapping[str, Any], **kw: Any) -> Any:
    """Instantiate another owner's stage, passing ``settings``/``live``/``provider`` if it takes them."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    args: dict[str, Any] = {}
    if "settings" in params:
        args["settings"] = settings
    for name, value in kw.items():
        if name in params:
            args[name] = value
    return cls(**args)



def embedded_detector(settings: Mapping[str, Any]) -> FaceDetector:
    try:
        from obs_faceswap.vision.embedded import EmbeddedDetector
    except ImportError:
        raise ModelError("the embedded face detector is not available in this installation; "
                         f"install the SCRFD model ('obs-faceswap models download {DEFAULT_DETECTOR_ID}') "
                         "or set the detector to a SCRFD .onnx file") from None
    return _construct(EmbeddedDetector, settings, provider=settings.get("provider", "auto"))  # type: ignore[no-any-return]



def build_detector(settings: Mapping[str, Any]) -> FaceDetector:
    choice = str(settings.get("detector") or "auto").strip()
    provider = str(settings.get("provider", "auto"))
    if choice == "embedded":
        return embedded_detector(settings)
    if choice == "auto":
        if is_installed(DEFAULT_DETECTOR_ID):
            return ScrfdDetector(load_family(DEFAULT_DETECTOR_ID, "scrfd", provider))
        return embedded_detector(settings)
    return ScrfdDetector(load_family(choice, "scrfd", provider))



def wrap_tracking(detector: FaceDetector, settings: Mapping[str, Any]) -> FaceDetector:
    """Live mode: detect every N frames and track in between (C's TrackedDetector), when available."""
    try:
        from obs_faceswap.vision.tracking import TrackedDetector
    except ImportError:
        return detector
    return TrackedDetector(detector, detect_every=int(settings["detect_every"]),  # type: ignore[no-any-return]
                           smoothing=float(settings["smoothing"]) / 100.0)



def provider_note(asked: str, used: Sequence[str]) -> str:
    """A note when ``asked`` (a ``provider`` choice such as 'cuda') is not among the ORT providers
    ``used``: ``note: CUDA is not available here; ran on CPU``. '' for 'auto' or when it ran there."""
    from obs_faceswap.models.session import PROVIDER_NAMES

    ort_name = PROVIDER_NAMES.get(asked.lower())
    if not asked or asked == "auto" or ort_name is None or not used or ort_name in used:
        return ""
    label = {v: k for k, v in PROVIDER_NAMES.items()}
    names = {"tensorrt": "TensorRT", "cuda": "CUDA", "directml": "DirectML", "coreml": "CoreML", "cpu": "CPU"}
    ran = ", ".join(names.get(label.get(u, ""), u.removesuffix("ExecutionProvider")) for u in used)
    return f"note: {names.get(asked.lower(), asked)} is not available here; ran on {ran}"



class NeuralSwapper:
    """An identity-embedding swapper (inswapper/ReSwapper or SimSwap) over its ONNX session."""

    def __init__(self, model: InSwapper | SimSwap, name: str) -> None:
        self.model = model
        self.name = name
        self.size: int = model.size
        self.template: str = model.template
        self.session: Session = model.session

    def latent(self, identity: Embedding) -> np.ndarray:
        return self.model.source_latent(identity)



def build_neural_swapper(choice: str, provider: str) -> NeuralSwapper:
    """A model id or .onnx path -> inswapper-family or SimSwap swapper (routed by signature like insightface)."""
    family = ""
    reg = _registry()
    if reg is not None and not _looks_like_path(choice):
        try:
            family = str(reg.get_entry(choice).family)
        except FaceSwapError:
            family = ""
    guessed = not family
    if not family:
        path = Path(choice)
        if not path.is_file():
            if reg is not None:
                reg.resolve_model(choice)  # raises a ModelError that says how to get it
            raise ModelError(f"swapper model not found: {choice}")
        try:
            read_emap(path)  # a corrupt or non-ONNX file raises ModelError here, before any guessing
            family = "inswapper"
        except ModelSignatureError:
            family = "simswap"
    if family not in ("inswapper", "simswap"):
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
    return NeuralSwapper(SimSwap(session), Path(session.path).stem)
