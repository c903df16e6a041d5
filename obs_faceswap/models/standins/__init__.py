"""Stand-in ONNX models with the exact input/output names, dtypes and shapes of the real ones.

Built on demand with ``onnx.helper`` (no weights, nothing downloaded). They compute something
small and deterministic, so they exercise the real loading, pre- and post-processing: the test
suite uses them, and ``obs-faceswap bench`` uses them when the real model is not installed (the
numbers are then the cost around the model). ``face``: SCRFD, ArcFace, inswapper/ReSwapper,
SimSwap; ``quality``: GFPGAN, CodeFormer, GPEN, BiSeNet, XSeg.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17


def save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(value), name)
