"""Stand-in face models (SCRFD det_10g, ArcFace w600k_r50, inswapper_128 / ReSwapper, SimSwap 256).

Each has the exact input/output names, dtypes and shapes of the public ONNX file, computes
something small and deterministic, and so exercises the real loading, pre- and post-processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from obs_faceswap.models.standins import OPSET  # noqa: F401
from obs_faceswap.models.standins import init as _init
from obs_faceswap.models.standins import save as _save

STRIDES = (8, 16, 32)


# ---------------------------------------------------------------- SCRFD


@dataclass
class PlacedFace:
    """A face the stand-in detector reports, in FRAME pixels (it is letterboxed like the real one)."""

    bbox: tuple[float, float, float, float]
    kps: Sequence[tuple[float, float]]
    score: float = 0.9


def scrfd_outputs(
    faces: Sequence[PlacedFace], frame_size: tuple[int, int], *, input_size: int = 640,
    stride: int = 16, duplicates: bool = True,
) -> list[np.ndarray]:
    """The 9 raw outputs (scores s8/16/32, boxes s8/16/32, kps s8/16/32) that place ``faces``.

    ``frame_size`` is (width, height) of the frame the detector will see. Each face is encoded at
    the anchor nearest its centre on ``stride``; with ``duplicates`` a slightly shifted, lower-scored
    copy goes on the neighbouring cell (NMS must remove it).
    """
    w, h = frame_size
    scale = min(input_size / h, input_size / w)
    side = {s: input_size // s for s in STRIDES}
    scores = {s: np.zeros((side[s] ** 2 * 2, 1), np.float32) for s in STRIDES}
    boxes = {s: np.zeros((side[s] ** 2 * 2, 4), np.float32) for s in STRIDES}
    kpss = {s: np.zeros((side[s] ** 2 * 2, 10), np.float32) for s in STRIDES}

    def put(bbox: np.ndarray, kps: np.ndarray, score: float, dcol: int) -> None:
        cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        col = min(side[stride] - 1, max(0, int(round(cx / stride)) + dcol))
        row = min(side[stride] - 1, max(0, int(round(cy / stride))))
        idx = (row * side[stride] + col) * 2
        ax, ay = col * stride, row * stride
        scores[stride][idx, 0] = score
        boxes[stride][idx] = np.array([ax - bbox[0], ay - bbox[1], bbox[2] - ax, bbox[3] - ay]) / stride
        kpss[stride][idx] = ((kps - [ax, ay]) / stride).reshape(-1)

    for f in faces:
        bbox = np.asarray(f.bbox, np.float64) * scale
        kps = np.asarray(f.kps, np.float64).reshape(5, 2) * scale
        put(bbox, kps, f.score, 0)
        if duplicates:
            put(bbox + [2, 1, 2, 1], kps + [2, 1], f.score * 0.9, 1)
    return [scores[s] for s in STRIDES] + [boxes[s] for s in STRIDES] + [kpss[s] for s in STRIDES]


def build_scrfd(
    path: Path, faces: Sequence[PlacedFace] = (), frame_size: tuple[int, int] = (640, 640), **kw: object
) -> Path:
    """det_10g stand-in: ``input.1`` f32[1,3,?,?] -> 9 outputs that place ``faces`` (see scrfd_outputs).

    The outputs are the constants plus 0 x the input's mean, so the graph really reads its input.
    """
    outs = scrfd_outputs(faces, frame_size, **kw)  # type: ignore[arg-type]
    nodes = [
        helper.make_node("ReduceMean", ["input.1"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [_init("zero", np.zeros((), np.float32))]
    names = ["score_8", "score_16", "score_32", "bbox_8", "bbox_16", "bbox_32", "kps_8", "kps_16", "kps_32"]
    outputs = []
    for name, value in zip(names, outs, strict=True):
        inits.append(_init(f"{name}_const", value))
        nodes.append(helper.make_node("Add", [f"{name}_const", "nothing"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs, initializer=inits,
    )
    return _save(graph, path)


# ---------------------------------------------------------------- ArcFace


def build_arcface(path: Path, seed: int = 1) -> Path:
    """w600k_r50 stand-in: ``input.1`` f32[N,3,112,112] -> ``683`` f32[N,512].

    A fixed random projection of the 8x8 average-pooled crop: different faces give different
    embeddings, the same face the same one.
    """
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((3 * 8 * 8, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes, "arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", 512])],
        initializer=[_init("proj", proj)],
    )
    return _save(graph, path)


# ---------------------------------------------------------------- swappers


def _swap_graph(size: int, seed: int, *, imagenet_input: bool) -> tuple[list, list]:
    """out = clip(0.5 * target_rgb01 + 0.5 * sigmoid(pattern(source)), 0, 1)."""
    rng = np.random.default_rng(seed)
    pat = (rng.standard_normal((512, 3 * 16 * 16)) * 0.3).astype(np.float32)
    inits = [
        _init("pattern_w", pat),
        _init("pattern_shape", np.array([1, 3, 16, 16], np.int64)),
        _init("scales", np.array([1, 1, size / 16, size / 16], np.float32)),
        _init("half", np.array(0.5, np.float32)),
        _init("lo", np.array(0.0, np.float32)),
        _init("hi", np.array(1.0, np.float32)),
    ]
    nodes = []
    target = "target"
    if imagenet_input:
        inits += [
            _init("std", np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)),
            _init("mean", np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)),
        ]
        nodes += [
            helper.make_node("Mul", ["target", "std"], ["t_std"]),
            helper.make_node("Add", ["t_std", "mean"], ["t01"]),
        ]
        target = "t01"
    nodes += [
        helper.make_node("MatMul", ["source", "pattern_w"], ["pflat"]),
        helper.make_node("Reshape", ["pflat", "pattern_shape"], ["psmall"]),
        helper.make_node("Resize", ["psmall", "", "scales"], ["pbig"], mode="linear"),
        helper.make_node("Sigmoid", ["pbig"], ["psig"]),
        helper.make_node("Add", [target, "psig"], ["sum"]),
        helper.make_node("Mul", ["sum", "half"], ["mixed"]),
        helper.make_node("Clip", ["mixed", "lo", "hi"], ["output"]),
    ]
    return nodes, inits


def build_inswapper(path: Path, size: int = 128, seed: int = 2, *, emap_name: str = "emap") -> Path:
    """inswapper_128 (size 128) / ReSwapper (128 or 256) stand-in.

    ``target`` f32[1,3,S,S], ``source`` f32[1,512] -> ``output`` f32[1,3,S,S] in [0, 1], with a
    float32 512x512 ``emap`` as the LAST initializer (unused by the graph, as in the real file).
    """
    nodes, inits = _swap_graph(size, seed, imagenet_input=False)
    rng = np.random.default_rng(seed + 100)
    emap = (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)
    inits.append(_init(emap_name, emap))
    graph = helper.make_graph(
        nodes, "inswapper_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
        initializer=inits,
    )
    return _save(graph, path)


def build_simswap(path: Path, seed: int = 3, *, size: int = 256) -> Path:
    """SimSwap stand-in: ``target`` f32[1,3,S,S] + ``source`` [1,512] -> [0,1]. S = 256: ImageNet-normalised
    input (simswap_256); S = 512: mean 0 / std 1 (simswap_unofficial_512)."""
    nodes, inits = _swap_graph(size, seed, imagenet_input=size != 512)
    graph = helper.make_graph(
        nodes, "simswap_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, size, size]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])],
        initializer=inits,
    )
    return _save(graph, path)


def build_embedding_converter(path: Path, seed: int = 4) -> Path:
    """crossface_simswap stand-in: ``input`` f32[N,512] -> ``output`` f32[N,512] = tanh(x W + b).

    Affine plus a non-linearity like the real MLP, so a normalised input gives another direction
    than the raw one (the real converter takes w600k_r50's raw embedding).
    """
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)
    b = (rng.standard_normal(512) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["input", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["lin"]),
        helper.make_node("Tanh", ["lin"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "embedding_converter_standin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 512])],
        initializer=[_init("w", w), _init("b", b)],
    )
    return _save(graph, path)


# Five key points and box of the astronaut's face in skimage.data.astronaut() (512x512), by hand.
ASTRONAUT_KPS = ((202.0, 101.0), (246.0, 103.0), (225.0, 125.0), (207.0, 146.0), (243.0, 147.0))
ASTRONAUT_BOX = (177.0, 66.0, 272.0, 175.0)
