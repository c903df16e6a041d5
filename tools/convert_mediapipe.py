#!/usr/bin/env python3
"""Convert mediapipe 0.10.21's face detector and face mesh (Apache-2.0 tflite) to ONNX, and check them.

Run it with a Python that has ``mediapipe==0.10.21``, ``tflite``, ``onnx``, ``onnxruntime`` and
``opencv-python`` (a throwaway venv: mediapipe pins numpy<2, which the worker must not)::

    python -m venv /tmp/mpvenv
    /tmp/mpvenv/bin/pip install mediapipe==0.10.21 tflite onnx onnxruntime scikit-image
    /tmp/mpvenv/bin/python tools/convert_mediapipe.py --out models/embedded --check

The tflite graphs use a handful of builtin ops (CONV_2D, DEPTHWISE_CONV_2D, PRELU, RELU, ADD,
MAX_POOL_2D, PAD, RESHAPE, CONCATENATION, DEQUANTIZE of fp16 weights). This script reads the
flatbuffer with the ``tflite`` package and writes the same computation as an NCHW ONNX graph
(fp16 weights widened to fp32, TF "SAME" padding written as explicit pads). Input and output
names, dtypes and shapes stay those of the tflite file (NHWC input, so callers feed the same
tensor mediapipe feeds), except that the batch axis is free ("batch"): several crops run in
one call.

``--check`` then proves the conversion on real photos (scikit-image's astronaut and
insightface's t1.jpg when importable; any ``--photos``):
  1. raw tensors: every ONNX output against the output of a straightforward NumPy
     interpreter of the tflite graph written independently of the ONNX op semantics
     (NHWC, direct from the flatbuffer), on the real crops mediapipe would feed;
  2. end to end: mediapipe's own ``solutions.face_detection`` / ``solutions.face_mesh``
     results against the same decode done with the ONNX outputs (box IoU, mesh error in %
     of the face size).
The result is deterministic: the same tflite bytes give byte-identical ONNX files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MEDIAPIPE_VERSION = "0.10.21"
MODELS = {
    # output file -> (path inside the mediapipe package, tflite input name)
    "face_detector.onnx": "modules/face_detection/face_detection_short_range.tflite",
    "face_mesh.onnx": "modules/face_landmark/face_landmark.tflite",
}

_ACT_NONE, _ACT_RELU, _ACT_RELU_N1_TO_1, _ACT_RELU6 = 0, 1, 2, 3
_TFL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 4: np.int64}


@dataclass
class TflOp:
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]


@dataclass
class TflGraph:
    """The part of a tflite model this converter needs, in plain Python."""

    names: list[str]
    shapes: list[tuple[int, ...]]
    consts: dict[int, np.ndarray]  # tensor index -> constant value (fp16 widened later)
    ops: list[TflOp]
    inputs: list[int]
    outputs: list[int]


def read_tflite(data: bytes) -> TflGraph:
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError("expected a single-subgraph tflite model")
    g = model.Subgraphs(0)
    op_names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(op_names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())])
    names, shapes, consts = [], [], {}
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        names.append(t.Name().decode())
        shapes.append(tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ())
        buf = model.Buffers(t.Buffer())
        if buf is not None and buf.DataLength() > 0:
            dtype = _TFL_DTYPES[t.Type()]
            consts[i] = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(shapes[-1])
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        kind = codes[op.OpcodeIndex()]
        ops.append(TflOp(kind, [int(x) for x in op.InputsAsNumpy()], [int(x) for x in op.OutputsAsNumpy()],
                         _options(op, kind)))
    return TflGraph(names, shapes, consts, ops, [int(x) for x in g.InputsAsNumpy()],
                    [int(x) for x in g.OutputsAsNumpy()])


def _options(op: Any, kind: str) -> dict[str, Any]:
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return {}
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = tflite.Conv2DOptions() if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        out = {"same": o.Padding() == tflite.Padding.SAME, "stride": (o.StrideH(), o.StrideW()),
               "dilation": (o.DilationHFactor(), o.DilationWFactor()), "act": o.FusedActivationFunction()}
        if kind == "DEPTHWISE_CONV_2D":
            out["multiplier"] = o.DepthMultiplier()
        return out
    if kind == "MAX_POOL_2D":
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {"same": o.Padding() == tflite.Padding.SAME, "stride": (o.StrideH(), o.StrideW()),
                "kernel": (o.FilterHeight(), o.FilterWidth()), "act": o.FusedActivationFunction()}
    if kind == "ADD":
        o = tflite.AddOptions()
        o.Init(table.Bytes, table.Pos)
        return {"act": o.FusedActivationFunction()}
    if kind == "CONCATENATION":
        o = tflite.ConcatenationOptions()
        o.Init(table.Bytes, table.Pos)
        return {"axis": o.Axis(), "act": o.FusedActivationFunction()}
    return {}


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding (the extra pixel goes at the end) for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------------------------
# tflite -> ONNX
# ---------------------------------------------------------------------------------------------

def convert(graph: TflGraph, *, doc: str) -> Any:
    """Build an ONNX ModelProto computing ``graph``; feature maps are kept NCHW inside."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    # tensor index -> (onnx name, layout) where layout is "nchw" for 4-D feature maps, "flat" otherwise
    produced: dict[int, tuple[str, str]] = {}
    consts: dict[int, np.ndarray] = {}
    counter = [0]

    def uniq(base: str) -> str:
        counter[0] += 1
        return f"{base}__{counter[0]}"

    def init(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def act(name_in: str, kind: int, name_out: str) -> None:
        if kind == _ACT_NONE:
            nodes.append(helper.make_node("Identity", [name_in], [name_out]))
        elif kind == _ACT_RELU:
            nodes.append(helper.make_node("Relu", [name_in], [name_out]))
        elif kind == _ACT_RELU6:
            nodes.append(helper.make_node("Clip", [name_in, init(uniq("zero"), np.float32(0.0)),
                                                   init(uniq("six"), np.float32(6.0))], [name_out]))
        else:
            raise NotImplementedError(f"fused activation {kind}")

    for idx, value in graph.consts.items():
        consts[idx] = value.astype(np.float32) if value.dtype == np.float16 else value

    (in_idx,) = graph.inputs
    in_name = graph.names[in_idx]
    n, h, w, c = graph.shapes[in_idx]
    nchw_in = uniq("input_nchw")
    nodes.append(helper.make_node("Transpose", [in_name], [nchw_in], perm=[0, 3, 1, 2]))
    produced[in_idx] = (nchw_in, "nchw")

    for k, op in enumerate(graph.ops):
        out_idx = op.outputs[0]
        out_name = uniq(graph.names[out_idx].replace("/", "_") or f"t{out_idx}")
        if op.kind == "DEQUANTIZE":
            consts[out_idx] = consts[op.inputs[0]].astype(np.float32)
            continue
        x_name, x_layout = produced[op.inputs[0]]
        in_shape = graph.shapes[op.inputs[0]]
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            wt = consts[op.inputs[1]]
            bias = consts[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            o = op.options
            if op.kind == "CONV_2D":
                kernel = wt.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                group = 1
            else:
                if o["multiplier"] != 1:
                    raise NotImplementedError("depth multiplier != 1")
                kernel = wt.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
                group = in_shape[3]
            kh, kw = kernel.shape[2:]
            pads = [0, 0, 0, 0]
            if o["same"]:
                pt, pb = _same_pads(in_shape[1], kh, o["stride"][0], o["dilation"][0])
                pl, pr = _same_pads(in_shape[2], kw, o["stride"][1], o["dilation"][1])
                pads = [pt, pl, pb, pr]
            ins = [x_name, init(uniq("W"), kernel.astype(np.float32))]
            if bias is not None:
                ins.append(init(uniq("B"), bias.astype(np.float32)))
            conv_out = uniq("conv")
            nodes.append(helper.make_node("Conv", ins, [conv_out], kernel_shape=[kh, kw], strides=list(o["stride"]),
                                          dilations=list(o["dilation"]), pads=pads, group=group))
            act(conv_out, o["act"], out_name)
            produced[out_idx] = (out_name, "nchw")
        elif op.kind == "MAX_POOL_2D":
            o = op.options
            kh, kw = o["kernel"]
            pads = [0, 0, 0, 0]
            if o["same"]:
                pt, pb = _same_pads(in_shape[1], kh, o["stride"][0])
                pl, pr = _same_pads(in_shape[2], kw, o["stride"][1])
                pads = [pt, pl, pb, pr]
            pool_out = uniq("pool")
            nodes.append(helper.make_node("MaxPool", [x_name], [pool_out], kernel_shape=[kh, kw],
                                          strides=list(o["stride"]), pads=pads))
            act(pool_out, o["act"], out_name)
            produced[out_idx] = (out_name, "nchw")
        elif op.kind == "ADD":
            y_name, _ = produced[op.inputs[1]]
            add_out = uniq("add")
            nodes.append(helper.make_node("Add", [x_name, y_name], [add_out]))
            act(add_out, op.options["act"], out_name)
            produced[out_idx] = (out_name, "nchw")
        elif op.kind == "RELU":
            nodes.append(helper.make_node("Relu", [x_name], [out_name]))
            produced[out_idx] = (out_name, x_layout)
        elif op.kind == "PRELU":
            alpha = consts[op.inputs[1]].reshape(-1)  # (1,1,C) or (C,)
            nodes.append(helper.make_node("PRelu", [x_name, init(uniq("slope"), alpha.reshape(-1, 1, 1))],
                                          [out_name]))
            produced[out_idx] = (out_name, "nchw")
        elif op.kind == "PAD":
            p = consts[op.inputs[1]].astype(np.int64)  # (4, 2) in NHWC order
            order = [0, 3, 1, 2]
            pads = [int(p[a, 0]) for a in order] + [int(p[a, 1]) for a in order]
            nodes.append(helper.make_node("Pad", [x_name, init(uniq("pads"), np.array(pads, np.int64))],
                                          [out_name], mode="constant"))
            produced[out_idx] = (out_name, "nchw")
        elif op.kind == "RESHAPE":
            src = x_name
            if x_layout == "nchw":  # tflite reshapes NHWC memory order
                src = uniq("nhwc")
                nodes.append(helper.make_node("Transpose", [x_name], [src], perm=[0, 2, 3, 1]))
            shape = np.array((-1, *graph.shapes[out_idx][1:]), np.int64)  # keep the batch axis free
            nodes.append(helper.make_node("Reshape", [src, init(uniq("shape"), shape)], [out_name]))
            produced[out_idx] = (out_name, "flat")
        elif op.kind == "CONCATENATION":
            names = [produced[i][0] for i in op.inputs]
            if any(produced[i][1] != "flat" for i in op.inputs):
                raise NotImplementedError("concatenation of NCHW feature maps")
            cat_out = uniq("cat")
            nodes.append(helper.make_node("Concat", names, [cat_out], axis=int(op.options["axis"])))
            act(cat_out, op.options["act"], out_name)
            produced[out_idx] = (out_name, "flat")
        else:
            raise NotImplementedError(f"tflite op {op.kind} (op #{k})")

    outputs = []
    for idx in graph.outputs:
        name, layout = produced[idx]
        final = graph.names[idx]
        if layout == "nchw":
            nodes.append(helper.make_node("Transpose", [name], [final], perm=[0, 2, 3, 1]))
        else:
            nodes.append(helper.make_node("Identity", [name], [final]))
        outputs.append(helper.make_tensor_value_info(final, TensorProto.FLOAT, ["batch", *graph.shapes[idx][1:]]))
    inputs = [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, ["batch", h, w, c])]
    g = helper.make_graph(nodes, "mediapipe_" + doc.split()[0], inputs, outputs, initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="obs-faceswap",
                              producer_version="convert_mediapipe")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------------------------------------
# independent NumPy reference interpreter (NHWC, straight from the flatbuffer)
# ---------------------------------------------------------------------------------------------

def _np_act(x: np.ndarray, kind: int) -> np.ndarray:
    if kind == _ACT_RELU:
        return np.maximum(x, 0)
    if kind == _ACT_RELU6:
        return np.clip(x, 0, 6)
    return x


def _np_pad_same(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int],
                 value: float = 0.0) -> np.ndarray:
    pt, pb = _same_pads(x.shape[1], kh, stride[0], dil[0])
    pl, pr = _same_pads(x.shape[2], kw, stride[1], dil[1])
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def _np_windows(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int]) -> np.ndarray:
    """(N, OH, OW, kh, kw, C) view of the sliding windows of an NHWC tensor."""
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))  # N, OH', OW', C, kh, kw
    v = v[:, :: stride[0], :: stride[1]]
    return v.transpose(0, 1, 2, 4, 5, 3)


def run_reference(graph: TflGraph, x: np.ndarray) -> list[np.ndarray]:
    """Evaluate the tflite graph in float64 NumPy (slow, obvious, for checking only)."""
    vals: dict[int, np.ndarray] = {i: v.astype(np.float64) for i, v in graph.consts.items()}
    vals[graph.inputs[0]] = x.astype(np.float64)
    for op in graph.ops:
        a = vals[op.inputs[0]]
        o = op.options
        if op.kind == "DEQUANTIZE":
            out = a
        elif op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            wt = vals[op.inputs[1]]
            kh, kw = wt.shape[1:3]
            if o["same"]:
                a = _np_pad_same(a, kh, kw, o["stride"], o["dilation"])
            win = _np_windows(a, kh, kw, o["stride"])  # N,OH,OW,kh,kw,C
            if op.kind == "CONV_2D":
                out = np.einsum("nhwijc,oijc->nhwo", win, wt, optimize=True)
            else:
                out = np.einsum("nhwijc,ijc->nhwc", win, wt[0], optimize=True)
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                out = out + vals[op.inputs[2]]
            out = _np_act(out, o["act"])
        elif op.kind == "MAX_POOL_2D":
            kh, kw = o["kernel"]
            if o["same"]:
                a = _np_pad_same(a, kh, kw, o["stride"], (1, 1), value=-np.inf)
            out = _np_act(_np_windows(a, kh, kw, o["stride"]).max(axis=(3, 4)), o["act"])
        elif op.kind == "ADD":
            out = _np_act(a + vals[op.inputs[1]], o["act"])
        elif op.kind == "RELU":
            out = np.maximum(a, 0)
        elif op.kind == "PRELU":
            alpha = vals[op.inputs[1]].reshape(-1)
            out = np.where(a >= 0, a, a * alpha)
        elif op.kind == "PAD":
            out = np.pad(a, vals[op.inputs[1]].astype(np.int64).tolist())
        elif op.kind == "RESHAPE":
            out = a.reshape(graph.shapes[op.outputs[0]])
        elif op.kind == "CONCATENATION":
            out = _np_act(np.concatenate([vals[i] for i in op.inputs], axis=o["axis"]), o["act"])
        else:
            raise NotImplementedError(op.kind)
        vals[op.outputs[0]] = out
    return [vals[i] for i in graph.outputs]


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------

def _photos(extra: list[str]) -> list[tuple[str, np.ndarray]]:
    import cv2

    out: list[tuple[str, np.ndarray]] = []
    try:
        from skimage import data

        out.append(("astronaut", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)))
    except ImportError:
        pass
    try:
        import insightface  # noqa: F401  (only for its bundled photo)

        p = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
        img = cv2.imread(str(p))
        if img is not None:
            out.append(("t1", img))
    except ImportError:
        pass
    for p in extra:
        img = cv2.imread(p)
        if img is None:
            raise SystemExit(f"cannot read photo {p}")
        out.append((Path(p).name, img))
    if not out:
        raise SystemExit("no photos to check with: pass --photos or install scikit-image")
    return out


def check(out_dir: Path, graphs: dict[str, TflGraph], photos: list[tuple[str, np.ndarray]]) -> bool:
    """Compare ONNX outputs with the NumPy tflite interpreter and with mediapipe's own results."""
    import cv2
    import mediapipe as mp
    import onnxruntime as ort

    ok = True
    det = ort.InferenceSession(str(out_dir / "face_detector.onnx"), providers=["CPUExecutionProvider"])
    mesh = ort.InferenceSession(str(out_dir / "face_mesh.onnx"), providers=["CPUExecutionProvider"])
    for name, img in photos:
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        # 1. raw tensors on the exact input mediapipe's short-range detector sees (letterbox to 128, [-1, 1])
        h, w = img.shape[:2]
        s = 128 / max(h, w)
        small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        box = np.zeros((128, 128, 3), np.uint8)
        oy, ox = (128 - small.shape[0]) // 2, (128 - small.shape[1]) // 2
        box[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
        x = (box.astype(np.float32) / 127.5 - 1.0)[None]
        got = det.run(None, {det.get_inputs()[0].name: x})
        ref = run_reference(graphs["face_detector.onnx"], x)
        for g_, r_, label in zip(got, ref, ("regressors", "classificators"), strict=True):
            err = float(np.abs(g_ - r_).max())
            scale = float(np.abs(r_).max())
            good = err <= 1e-3 * max(1.0, scale)
            ok &= good
            print(f"[{name}] detector {label}: max |onnx - reference| = {err:.2e} (|ref| max {scale:.1f})"
                  f" {'OK' if good else 'FAIL'}")
        # 2a. mediapipe's own detector vs obs-faceswap's BlazeFace decoding of the ONNX outputs
        with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as fd:
            dets = fd.process(rgb).detections or []
        theirs = [(d.location_data.relative_bounding_box, d.score[0]) for d in dets]
        ours = ours_detector(out_dir).detect_boxes(img)
        print(f"[{name}] mediapipe face_detection: {len(theirs)} face(s); ours (whole frame): {len(ours)}")
        for bb, score in theirs:
            tb = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h])
            best = max((_box_iou(tb, b) for b, _, _ in ours), default=0.0)
            good = best > 0.8
            ok &= good
            print(f"[{name}]   mediapipe box score {score:.2f}: best IoU with ours {best:.3f} {'OK' if good else 'FAIL'}")
        # 2b. mediapipe's mesh, and the ONNX mesh on the crop mediapipe's mesh implies
        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=10,
                                             refine_landmarks=False) as fm:
            res = fm.process(rgb)
        faces = res.multi_face_landmarks or []
        print(f"[{name}] mediapipe face_mesh found {len(faces)} face(s)")
        errs = []
        for lm in faces:
            pts = np.array([(p.x * w, p.y * h) for p in lm.landmark], np.float32)
            # rebuild the rotated square crop from the mesh the way mediapipe tracks it
            crop_m = _crop_from_mesh(pts)
            crop = cv2.warpAffine(rgb, crop_m, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            xin = (crop.astype(np.float32) / 255.0)[None]
            out = mesh.run(None, {mesh.get_inputs()[0].name: xin})
            refm = run_reference(graphs["face_mesh.onnx"], xin)
            err = max(float(np.abs(a - b).max()) for a, b in zip(out, refm, strict=True))
            inv = cv2.invertAffineTransform(crop_m)
            p192 = out[0].reshape(468, 3)[:, :2]
            back = p192 @ inv[:, :2].T + inv[:, 2]
            size = float(np.linalg.norm(pts.max(0) - pts.min(0)))
            e_rel = float(np.linalg.norm(back - pts, axis=1).mean()) / size
            errs.append(e_rel)
            good = err < 1e-2 and e_rel < 0.03
            ok &= good
            print(f"[{name}] mesh: max |onnx - reference| = {err:.2e}; vs mediapipe landmarks mean "
                  f"{100 * e_rel:.2f}% of face size {'OK' if good else 'FAIL'}")
    return ok


def ours_detector(out_dir: Path) -> Any:
    """obs-faceswap's EmbeddedDetector on the freshly written files (whole-frame pass only)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from obs_faceswap.vision.embedded import EmbeddedDetector

    return EmbeddedDetector(provider="cpu", small_faces=False, detector_path=out_dir / "face_detector.onnx",
                            mesh_path=out_dir / "face_mesh.onnx")


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def _crop_from_mesh(pts: np.ndarray) -> np.ndarray:
    """Affine 2x3 matrix mapping the frame to a 192x192 crop around a face mesh (roll-corrected, 1.5x)."""
    import cv2

    left, right = pts[33], pts[263]  # outer eye corners
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    c = (pts.min(0) + pts.max(0)) / 2
    rot = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), angle, 1.0)
    r = pts @ rot[:, :2].T + rot[:, 2]
    size = float((r.max(0) - r.min(0)).max()) * 1.5
    s = 192.0 / size
    m = rot * s
    m[:, 2] += 96.0 - (c * s)
    return m.astype(np.float64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "embedded")
    ap.add_argument("--check", action="store_true", help="compare the ONNX files with the tflite graphs and mediapipe")
    ap.add_argument("--photos", nargs="*", default=[], help="extra photos for --check")
    args = ap.parse_args(argv)
    import mediapipe as mp

    if mp.__version__ != MEDIAPIPE_VERSION:
        print(f"warning: mediapipe {mp.__version__} (the shipped files come from {MEDIAPIPE_VERSION})",
              file=sys.stderr)
    root = Path(mp.__file__).parent
    args.out.mkdir(parents=True, exist_ok=True)
    graphs: dict[str, TflGraph] = {}
    for out_name, rel in MODELS.items():
        data = (root / rel).read_bytes()
        graph = read_tflite(data)
        graphs[out_name] = graph
        doc = (f"{out_name} converted from mediapipe {mp.__version__} {rel} "
               f"(sha256 {hashlib.sha256(data).hexdigest()}), Apache-2.0; see LICENSE-mediapipe.txt")
        model = convert(graph, doc=doc)
        dst = args.out / out_name
        tmp = dst.with_suffix(".tmp")
        tmp.write_bytes(model.SerializeToString())
        tmp.replace(dst)
        print(f"wrote {dst} ({dst.stat().st_size / 1e6:.2f} MB, sha256 {hashlib.sha256(dst.read_bytes()).hexdigest()})")
    if args.check:
        if not check(args.out, graphs, _photos(args.photos)):
            print("CHECK FAILED", file=sys.stderr)
            return 1
        print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
