"""All faces of one frame through an inswapper-family model in one run.

A model whose ``target`` batch axis is dynamic (ReSwapper exports, the architecture-exact bench
model) takes the N aligned crops as one [N,3,S,S] tensor with the N source latents; one run
instead of N costs less on a GPU (one launch sequence, better occupancy). A model fixed to batch 1
(the public inswapper_128 file) runs face by face. Either way the result equals
``InSwapper.swap_crop`` per face. ``runner`` (a ``models.device.BoundSession``) runs the model
through IO binding instead of ``Session.run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.swappers.inswapper import InSwapper
from obs_faceswap.vision.types import Frame


def batch_capacity(swapper: InSwapper) -> int:
    """How many faces one run may take: 1 for a model fixed to batch 1, else unlimited (0)."""
    spec = next(t for t in swapper.session.inputs if t.name == "target")
    first = spec.shape[0]
    return int(first) if isinstance(first, int) and first > 0 else 0


def swap_crops(swapper: InSwapper, crops: Sequence[Frame], latents: npt.NDArray[np.float32], *,
               runner: Any = None) -> list[Frame]:
    """Swapped BGR uint8 crops for aligned BGR ``crops``; ``latents`` is [512] / [1,512] (one source
    for all) or [N,512] (one per face)."""
    if not crops:
        return []
    lat = np.asarray(latents, np.float32).reshape(-1, 512)
    if len(lat) == 1:
        lat = np.repeat(lat, len(crops), axis=0)
    if len(lat) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(lat)} source latents")
    cap = batch_capacity(swapper)
    step = len(crops) if cap == 0 else cap
    run = runner.run if runner is not None else swapper.session.run
    out: list[Frame] = []
    for i in range(0, len(crops), step):
        part = list(crops[i:i + step])
        blob = cv2.dnn.blobFromImages(part, 1.0 / 255.0, (swapper.size, swapper.size), (0.0, 0.0, 0.0), swapRB=True)
        pred = np.asarray(run({"target": blob, "source": np.ascontiguousarray(lat[i:i + step])})[0])
        rgb = np.clip(255 * pred.transpose(0, 2, 3, 1), 0, 255).astype(np.uint8)
        out += [np.ascontiguousarray(face[:, :, ::-1]) for face in rgb]
    return out
