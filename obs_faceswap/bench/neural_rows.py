"""``bench pipeline`` rows of the neural swap path: pixel boost and DeepFaceLive (DFM) models.

On the bench frame's face, the whole swap (``swap_all``: swap step + merge) with

  neural_swap_pb128_ms     inswapper_128 at its native 128 px: the baseline of the next two rows
  neural_swap_pb256_ms     pixel boost 256 (4 model runs per face)
  neural_swap_pb512_ms     pixel boost 512 (16 model runs per face)
  dfm_swap_ms              a DeepFaceLive .dfm model (224 px): DFL alignment from the mesh, model,
                           celeb x face mask, erode/blur, RCT colour, paste

The installed inswapper_128 is used when present, else a stand-in of its exact signature (then the
rows are the pre/post-processing cost around a near-free model; a real inswapper_128 is ~116 G
multiply-adds per run, seconds on a 2-core CPU). DFM models are user-supplied: always a stand-in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.bench import p50, time_ms
from obs_faceswap.errors import FaceSwapError
from obs_faceswap.vision.types import Face, Frame

BOOSTS = (128, 256, 512)


def _inswapper(folder: Path) -> tuple[str, str]:
    from obs_faceswap.models.registry import get_entry, is_installed, model_path
    from obs_faceswap.models.standins.face import build_inswapper

    try:
        if is_installed("inswapper_128"):
            return str(model_path(get_entry("inswapper_128"))), "inswapper_128 (installed)"
    except FaceSwapError:  # no manifest: the stand-in
        pass
    return str(build_inswapper(folder / "inswapper_128.onnx")), "stand-in inswapper_128 (pre/post cost)"


def neural_rows(frame: Frame, face: Face, *, repeat: int = 5) -> dict[str, Any]:
    """The rows above for ``face`` in ``frame``."""
    from obs_faceswap.models.session import create_session
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.swappers.inswapper import InSwapper
    from obs_faceswap.vision.swappers.neural import NeuralSwapper

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, label = _inswapper(Path(tmp))
        out["neural_swapper"] = label
        swapper = NeuralSwapper(InSwapper(create_session(path, "cpu")), "inswapper_128")
        latent = swapper.model.source_latent(np.random.default_rng(0).standard_normal(512).astype(np.float32))
        for boost in BOOSTS:
            options = FaceOptions.from_settings({"pixel_boost": boost, "color_method": "lab"})
            out[f"neural_swap_pb{boost}_ms"] = p50(time_ms(lambda o=options: swap_all(frame, [face], swapper, latent, o),
                                                           repeat=repeat, warmup=1))
        out.update(_dfm_rows(frame, face, Path(tmp), repeat))
    return out


def _dfm_rows(frame: Frame, face: Face, folder: Path, repeat: int) -> dict[str, Any]:
    try:
        from obs_faceswap.models.standins.dfm import build_dfm
        from obs_faceswap.vision.swappers.dfm import DfmSwapper
    except ImportError:
        return {}
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions

    swapper = DfmSwapper(str(build_dfm(folder / "standin.dfm", size=224)), "cpu")
    options = FaceOptions.from_settings({"swapper": "dfm", "color_method": "rct"})
    source = swapper.prepare_source([], None).value
    return {"dfm_swap_ms": p50(time_ms(lambda: swap_all(frame, [face], swapper, source, options),
                                       repeat=repeat, warmup=1))}
