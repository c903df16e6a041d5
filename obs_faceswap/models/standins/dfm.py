"""Stand-in DeepFaceLive ``.dfm`` model with the exact signature of DeepFaceLab's export.

``in_face:0`` f32[N,S,S,3] BGR in [0, 1] (+ ``morph_value:0`` f32[1] for AMP models) ->
``out_face_mask:0`` f32[N,S,S,1], ``out_celeb_face:0`` f32[N,S,S,3], ``out_celeb_face_mask:0``
f32[N,S,S,1]. Checkable: the celeb face is the input inverted (1 - x; AMP: mixed with the input by
``morph_value``: m * (1 - x) + (1 - m) * x), the face mask a disc of radius 0.42 S and the celeb
mask a disc of radius 0.36 S around the crop centre (hard edges: the merge softens them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save

FACE_MASK_RADIUS = 0.42  # share of the crop size
CELEB_MASK_RADIUS = 0.36


def disc(size: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    r = np.hypot(xx - size / 2, yy - size / 2)
    return (r <= radius * size).astype(np.float32)


def build_dfm(path: Path, size: int = 224, *, amp: bool = False) -> Path:
    """A DFM stand-in at ``size`` px (``amp``: with the ``morph_value:0`` input)."""
    x = "in_face:0"
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", size, size, 3])]
    inits = [
        _init("one", np.array(1.0, np.float32)),
        _init("zero", np.array(0.0, np.float32)),
        _init("face_disc", disc(size, FACE_MASK_RADIUS).reshape(1, size, size, 1)),
        _init("celeb_disc", disc(size, CELEB_MASK_RADIUS).reshape(1, size, size, 1)),
    ]
    nodes = [helper.make_node("Sub", ["one", x], ["inverted"])]
    if amp:
        inputs.append(helper.make_tensor_value_info("morph_value:0", TensorProto.FLOAT, [1]))
        nodes += [
            helper.make_node("Sub", ["inverted", x], ["delta"]),
            helper.make_node("Mul", ["delta", "morph_value:0"], ["scaled"]),
            helper.make_node("Add", [x, "scaled"], ["out_celeb_face:0"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["inverted"], ["out_celeb_face:0"]))
    # the masks: constant discs, plus 0 x the input so the graph reads it like the real one
    nodes += [
        helper.make_node("ReduceMean", [x], ["mean"], keepdims=1, axes=[3]),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["face_disc", "nothing"], ["out_face_mask:0"]),
        helper.make_node("Add", ["celeb_disc", "nothing"], ["out_celeb_face_mask:0"]),
    ]
    outputs = [
        helper.make_tensor_value_info("out_face_mask:0", TensorProto.FLOAT, ["N", size, size, 1]),
        helper.make_tensor_value_info("out_celeb_face:0", TensorProto.FLOAT, ["N", size, size, 3]),
        helper.make_tensor_value_info("out_celeb_face_mask:0", TensorProto.FLOAT, ["N", size, size, 1]),
    ]
    graph = helper.make_graph(nodes, "dfm_standin", inputs, outputs, initializer=inits)
    return _save(graph, path)
