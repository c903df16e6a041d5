"""Bench of the quality stages: every colour method, mask stage and enhancer on one face.

Part of ``obs-faceswap bench pipeline`` (``bench/pipeline.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from obs_faceswap.errors import ModelError
from obs_faceswap.vision.align import warp_face
from obs_faceswap.vision.color import METHODS, transfer_color
from obs_faceswap.vision.enhance import ENHANCER_FAMILIES
from obs_faceswap.vision.quality import OCCLUDER_MODEL, PARSER_MODEL, ModelPaths, QualityStages
from obs_faceswap.vision.types import Face, Frame


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (first ORT run allocates)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(times))


def _standin_models(folder: str) -> dict[str, Any]:
    """Stand-in models (``obs_faceswap.models.standins.quality``) written into ``folder``."""
    from obs_faceswap.models.standins.quality import all_models

    return dict(all_models(Path(folder)))


def bench_stages(frame: Frame, face: Face, *, crop_size: int = 256, repeat: int = 5,
                 models: ModelPaths | None = None, provider: str = "cpu") -> dict[str, float]:
    """Median milliseconds of every quality stage for ``face`` in ``frame`` (e.g. 1280x720).

    Keys: ``color_<method>`` for each colour method, ``parser``, ``occlusion``, ``mouth``,
    ``enhance_<id>`` and ``enhance_frame_<id>`` per enhancer. Models come from ``models`` (id ->
    path), else the installed ones, else the stand-ins of ``obs_faceswap.models.standins``
    (which cost ~nothing to run,
    so those numbers are the pre/post-processing cost alone); a stage with none is left out.
    """
    import tempfile

    from obs_faceswap.models.registry import is_installed

    crop, m = warp_face(frame, face.kps, "arcface_128", crop_size)
    ref = np.ascontiguousarray(cv2.GaussianBlur(crop, (0, 0), 2.0)[:, ::-1])  # a differently lit "target"
    ellipse = np.zeros((crop_size, crop_size), np.float32)
    cv2.ellipse(ellipse, (crop_size // 2, crop_size // 2), (crop_size * 3 // 10, crop_size * 4 // 10), 0, 0, 360,
                1.0, -1)
    out: dict[str, float] = {}
    for method in METHODS:
        out[f"color_{method}"] = _median_ms(lambda mt=method: transfer_color(crop, ref, mt, 1.0, ellipse), repeat)

    with tempfile.TemporaryDirectory(prefix="obs-faceswap-bench-") as tmp:
        paths: dict[str, Any] = dict(models or {})
        ids = [*ENHANCER_FAMILIES, PARSER_MODEL, OCCLUDER_MODEL]
        missing = [i for i in ids if i not in paths and not _installed(is_installed, i)]
        if missing:
            stand = _standin_models(tmp)
            paths.update({i: stand[i] for i in missing if i in stand})
        usable = {i for i in ids if i in paths or _installed(is_installed, i)}

        base = {"mask_regions": "skin,brows,eyes,nose,mouth,lips" if PARSER_MODEL in usable else "",
                "occlusion_mask": OCCLUDER_MODEL in usable, "keep_mouth": True}
        # each mask stage alone
        for name, settings in (("parser", {"occlusion_mask": False, "keep_mouth": False}),
                               ("occlusion", {"mask_regions": "", "keep_mouth": False}),
                               ("mouth", {"mask_regions": "", "occlusion_mask": False})):
            one = QualityStages.from_settings({**base, **settings}, provider, models=paths)
            if name == "parser" and one.parser is None or name == "occlusion" and one.occluder is None:
                out.pop(name, None)
                continue
            out[name] = _median_ms(lambda st=one: st.mask(crop, crop, face, m), repeat)
        for eid in ENHANCER_FAMILIES:
            if eid not in usable:
                continue
            st = QualityStages.from_settings({"enhancer": eid, "enhancer_blend": 100}, provider, models=paths)
            out[f"enhance_{eid}"] = _median_ms(lambda st=st: st.enhance(frame, face, crop, m), repeat)
            work = frame.copy()
            out[f"enhance_frame_{eid}"] = _median_ms(lambda st=st, w=work: st.enhance_frame(w, face), repeat)
    return out


def _installed(check: Callable[[str], bool], model_id: str) -> bool:
    try:
        return bool(check(model_id))
    except ModelError:
        return False
