"""Stand-in Wav2Lip: the exact ONNX signature of the published exports, a small visible effect.

``source`` f32[1,1,80,16] (mel chunk in [-4, 4]) and ``target`` f32[1,6,96,96] (masked face ‖ reference,
BGR/255) -> ``output`` f32[1,3,96,96]: the reference face with an ellipse where the mouth is in a
Wav2Lip crop darkened by the chunk's loudness, ``a = (mean(mel) + 4) / 8``:
``output = reference * (1 - DARKEN * a * ellipse)``. Louder speech, darker (more open-looking) mouth.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from onnx import TensorProto, helper

from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save

SIZE = 96
DARKEN = 0.85
MOUTH_CENTRE = (48, 70)  # where the mouth sits in a 96 px Wav2Lip crop (box + 10 px below the chin)
MOUTH_AXES = (17, 8)


def mouth_ellipse() -> np.ndarray:
    """(96, 96) float32: 1 inside the stand-in's mouth ellipse, soft edge."""
    m = np.zeros((SIZE, SIZE), np.float32)
    cv2.ellipse(m, MOUTH_CENTRE, MOUTH_AXES, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(m, (0, 0), 1.5)


def wav2lip(path: Path) -> Path:
    """Write the stand-in to ``path``."""
    nodes = [
        helper.make_node("Slice", ["target", "starts", "ends", "axes"], ["reference"]),
        helper.make_node("ReduceMean", ["source"], ["level"], keepdims=0),
        helper.make_node("Add", ["level", "four"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "eighth_darken"], ["amount"]),  # DARKEN * a
        helper.make_node("Mul", ["ellipse", "amount"], ["shade"]),
        helper.make_node("Sub", ["one", "shade"], ["gain"]),
        helper.make_node("Mul", ["reference", "gain"], ["output"]),
    ]
    g = helper.make_graph(
        nodes, "wav2lip_standin",
        [helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 1, 80, 16]),
         helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 6, SIZE, SIZE])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [_init("starts", np.array([3], np.int64)), _init("ends", np.array([6], np.int64)),
         _init("axes", np.array([1], np.int64)), _init("four", np.array(4.0, np.float32)),
         _init("eighth_darken", np.array(DARKEN / 8.0, np.float32)), _init("one", np.array(1.0, np.float32)),
         _init("ellipse", mouth_ellipse().reshape(1, 1, SIZE, SIZE))],
    )
    return _save(g, path)


def wav2lip_expected(mel_chunk: np.ndarray, target: np.ndarray) -> np.ndarray:
    """What the stand-in returns for one (80, 16) chunk and a (1, 6, 96, 96) target (float32 (1,3,96,96))."""
    a = (float(np.mean(mel_chunk, dtype=np.float64)) + 4.0) * DARKEN / 8.0
    return (target[:, 3:6] * (1.0 - a * mouth_ellipse())).astype(np.float32)
