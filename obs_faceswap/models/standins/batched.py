"""A small inswapper-family stand-in with a dynamic batch axis (tests of batching and IO binding).

``target`` f32[batch,3,S,S] RGB 0..1 and ``source`` f32[batch,512] -> ``output`` f32[batch,3,S,S]
in 0..1, ``emap`` (512x512 float32) as the last initializer. Unlike the pattern stand-in it mixes
per-sample statistics (instance norm) with the source latent, so a batch that mixed up its
samples would give visibly different faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save


def build_inswapper_batched(path: Path, size: int = 128, seed: int = 5, channels: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    c = channels
    inits = [
        _init("w1", (rng.standard_normal((c, 3, 3, 3)) * 0.3).astype(np.float32)),
        _init("b1", np.zeros(c, np.float32)),
        _init("in_scale", np.ones(c, np.float32)),
        _init("in_bias", np.zeros(c, np.float32)),
        _init("proj", (rng.standard_normal((512, c)) * 0.2).astype(np.float32)),
        _init("lat_shape", np.array([-1, c, 1, 1], np.int64)),
        _init("w2", (rng.standard_normal((3, c, 3, 3)) * 0.2).astype(np.float32)),
        _init("b2", np.zeros(3, np.float32)),
        _init("emap", (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["target", "w1", "b1"], ["f1"], pads=[1, 1, 1, 1]),
        helper.make_node("InstanceNormalization", ["f1", "in_scale", "in_bias"], ["f2"]),
        helper.make_node("MatMul", ["source", "proj"], ["lat"]),
        helper.make_node("Reshape", ["lat", "lat_shape"], ["lat4"]),
        helper.make_node("Add", ["f2", "lat4"], ["f3"]),
        helper.make_node("Relu", ["f3"], ["f4"]),
        helper.make_node("Conv", ["f4", "w2", "b2"], ["f5"], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["f5", "target"], ["f6"]),
        helper.make_node("Sigmoid", ["f6"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "inswapper_batched_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, ["batch", 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, ["batch", 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3, size, size])],
        initializer=inits,
    )
    return _save(graph, path)
