"""Stand-in ONNX models with the exact signatures of the real voice models (no weights downloaded).

- ``content_encoder``: like ContentVec/HuBERT base exports: f32[1,1,samples] -> f32[1,frames,768],
  one frame per 320 samples with a 400-sample receptive field (a strided Conv, random weights).
- ``rvc_synth``: RVC's export signature ``phone f32[1,T,D], phone_lengths i64[1], pitch i64[1,T],
  pitchf f32[1,T], ds i64[1], rnd f32[1,192,T] -> audio f32[1,1,T*hop]``. Its audio is a sine that
  follows ``pitchf`` (phase accumulated over the upsampled F0, like the NSF source of the real
  model) plus a small term from ``phone``, so tests can check F0 and features really flow through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def content_encoder(path: Path, dim: int = 768, *, rank2_input: bool = False, channels_first: bool = False,
                    seed: int = 0) -> Path:
    """ContentVec-like encoder. ``rank2_input`` makes the wrong f32[1,samples] input, ``channels_first`` the wrong
    f32[1,D,frames] output with both axes dynamic (for error tests)."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((dim, 1, 400)) * 0.05).astype(np.float32)
    nodes = []
    if rank2_input:
        inp = helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, "samples"])
        nodes.append(helper.make_node("Unsqueeze", ["source", "axis1"], ["wav"]))
        inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
        x = "wav"
    else:
        inp = helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 1, "samples"])
        inits = []
        x = "source"
    inits.append(numpy_helper.from_array(w, "conv_w"))
    nodes += [
        helper.make_node("Conv", [x, "conv_w"], ["conv"], kernel_shape=[400], strides=[320]),
        helper.make_node("Tanh", ["conv"], ["act" if not channels_first else "features"]),
    ]
    if not channels_first:
        nodes.append(helper.make_node("Transpose", ["act"], ["features"], perm=[0, 2, 1]))
    shape = [1, "frames", dim] if not channels_first else [1, "channels", "frames"]
    out = helper.make_tensor_value_info("features", TensorProto.FLOAT, shape)
    return _save(helper.make_graph(nodes, "content_encoder_standin", [inp], [out], inits), path)


def rvc_synth(path: Path, dim: int = 768, hop: int = 400, *, drop_input: str = "", seed: int = 1) -> Path:
    """RVC synthesizer stand-in at ``hop * 100`` Hz. ``drop_input`` omits one input (for error tests)."""
    rate = hop * 100
    rng = np.random.default_rng(seed)
    inputs = {
        "phone": helper.make_tensor_value_info("phone", TensorProto.FLOAT, [1, "frames", dim]),
        "phone_lengths": helper.make_tensor_value_info("phone_lengths", TensorProto.INT64, [1]),
        "pitch": helper.make_tensor_value_info("pitch", TensorProto.INT64, [1, "frames"]),
        "pitchf": helper.make_tensor_value_info("pitchf", TensorProto.FLOAT, [1, "frames"]),
        "ds": helper.make_tensor_value_info("ds", TensorProto.INT64, [1]),
        "rnd": helper.make_tensor_value_info("rnd", TensorProto.FLOAT, [1, 192, "frames"]),
    }
    inits = [
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1, 1, hop], dtype=np.int64), "rep"),
        numpy_helper.from_array(np.array([1, 1, -1], dtype=np.int64), "flat"),
        numpy_helper.from_array(np.array(2 * np.pi / rate, dtype=np.float32), "w"),
        numpy_helper.from_array(np.array(0.3, dtype=np.float32), "amp"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.array(2, dtype=np.int64), "time_axis"),
        numpy_helper.from_array((rng.standard_normal((dim, 1)) * 1e-4).astype(np.float32), "proj"),
    ]
    nodes = [
        # NSF-like source: sin(cumsum(2*pi*f0/rate)) at the output rate
        helper.make_node("Unsqueeze", ["pitchf", "axis2"], ["f0_3d"]),  # [1,T,1]
        helper.make_node("Tile", ["f0_3d", "rep"], ["f0_up"]),  # [1,T,hop]
        helper.make_node("Reshape", ["f0_up", "flat"], ["f0_flat"]),  # [1,1,T*hop]
        helper.make_node("Mul", ["f0_flat", "w"], ["dphase"]),
        helper.make_node("CumSum", ["dphase", "time_axis"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["sine"]),
        helper.make_node("Greater", ["f0_flat", "zero"], ["voiced_b"]),
        helper.make_node("Cast", ["voiced_b"], ["voiced"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["sine", "voiced"], ["src"]),
        helper.make_node("Mul", ["src", "amp"], ["tone"]),
        # a small contribution of the content features, upsampled the same way
        helper.make_node("MatMul", ["phone", "proj"], ["ph"]),  # [1,T,1]
        helper.make_node("Tile", ["ph", "rep"], ["ph_up"]),
        helper.make_node("Reshape", ["ph_up", "flat"], ["ph_flat"]),
        helper.make_node("Add", ["tone", "ph_flat"], ["audio"]),
    ]
    graph_inputs = [v for k, v in inputs.items() if k != drop_input]
    if drop_input in ("phone", "pitchf"):
        raise ValueError("the stand-in's graph needs phone and pitchf")
    out = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, "samples"])
    return _save(helper.make_graph(nodes, "rvc_synth_standin", graph_inputs, [out], inits), path)


def rmvpe(path: Path, peak_bin: int | None = None, seed: int = 2) -> Path:
    """RMVPE-like: log-mel f32[1,128,frames] -> salience f32[1,frames,360] (sigmoid of a projection).

    With ``peak_bin`` the projection is zero and a bias puts one clear peak at that bin, so the decoded
    F0 is known: 10 * 2 ** ((20 * peak_bin + 1997.38) / 1200) Hz."""
    rng = np.random.default_rng(seed)
    if peak_bin is None:
        w = (rng.standard_normal((128, 360)) * 0.05).astype(np.float32)
        b = np.full(360, -2.0, dtype=np.float32)
    else:
        w = np.zeros((128, 360), dtype=np.float32)
        b = np.full(360, -8.0, dtype=np.float32)
        b[peak_bin - 1: peak_bin + 2] = (3.0, 4.0, 3.0)
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 128, "frames"])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, "frames", 360])
    nodes = [
        helper.make_node("Transpose", ["input"], ["mel_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["mel_t", "w"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["output"]),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    return _save(helper.make_graph(nodes, "rmvpe_standin", [inp], [out], inits), path)
