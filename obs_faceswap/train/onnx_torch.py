"""Run an ONNX graph as a frozen torch module, so a loss can back-propagate *through* it.

The identity loss needs ArcFace in torch: ``onnx2torch`` would do, but it pulls ``torchvision``
(and with it possibly another torch build), so this small interpreter covers the operators of
ArcFace-style recognisers (insightface's iresnet exports: Conv, BatchNormalization, PRelu, Add,
Flatten, Gemm ...) and of the stand-ins. Weights become buffers (no gradient, moved by ``.to``);
gradients flow to the *inputs*. An operator outside the list is a clear error naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from obs_faceswap.errors import ModelError

Op = Callable[[list[Any], dict[str, Any]], Any]


def _pads(attrs: dict[str, Any], dims: int) -> tuple[list[int], list[int]]:
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise ModelError("ONNX auto_pad SAME_* is not supported by the torch converter")
    p = list(attrs.get("pads", [0] * (2 * dims)))
    return p[:dims], p[dims:]


def _padded(x: torch.Tensor, begin: list[int], end: list[int], value: float = 0.0) -> tuple[torch.Tensor, list[int]]:
    """Symmetric pads go to the op; asymmetric ones are applied here first (returns the op's padding)."""
    if begin == end:
        return x, begin
    flat: list[int] = []
    for b, e in zip(reversed(begin), reversed(end), strict=True):
        flat += [b, e]
    return F.pad(x, flat, value=value), [0] * len(begin)


def _conv(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x, w = i[0], i[1]
    b = i[2] if len(i) > 2 else None
    dims = w.dim() - 2
    begin, end = _pads(a, dims)
    x, pad = _padded(x, begin, end)
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    return fn(x, w, b, stride=a.get("strides", 1), padding=pad, dilation=a.get("dilations", 1),
              groups=a.get("group", 1))


def _pool(kind: str) -> Op:
    def run(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
        k = list(a["kernel_shape"])
        begin, end = _pads(a, len(k))
        x, pad = _padded(i[0], begin, end, float("-inf") if kind == "max" else 0.0)
        strides = a.get("strides", k)
        if kind == "max":
            return F.max_pool2d(x, k, strides, pad, ceil_mode=bool(a.get("ceil_mode", 0)))
        return F.avg_pool2d(x, k, strides, pad, ceil_mode=bool(a.get("ceil_mode", 0)),
                            count_include_pad=bool(a.get("count_include_pad", 0)))
    return run


def _gemm(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x, w = i[0], i[1]
    if a.get("transA", 0):
        x = x.t()
    if a.get("transB", 0):
        w = w.t()
    y = a.get("alpha", 1.0) * (x @ w)
    if len(i) > 2 and i[2] is not None:
        y = y + a.get("beta", 1.0) * i[2]
    return y


def _reshape(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x, shape = i[0], [int(v) for v in i[1].tolist()]
    shape = [x.shape[k] if v == 0 and not a.get("allowzero", 0) else v for k, v in enumerate(shape)]
    return x.reshape(shape)


def _flatten(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    axis = a.get("axis", 1)
    x = i[0]
    axis = axis % x.dim() if axis < 0 else axis
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _prelu(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x, slope = i[0], i[1]
    if slope.dim() == 1 and x.dim() > 2 and slope.numel() == x.shape[1]:
        slope = slope.reshape(1, -1, *([1] * (x.dim() - 2)))
    return torch.where(x >= 0, x, x * slope)


def _clip(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    lo = i[1] if len(i) > 1 and i[1] is not None else a.get("min")
    hi = i[2] if len(i) > 2 and i[2] is not None else a.get("max")
    return torch.clamp(i[0], min=None if lo is None else float(lo), max=None if hi is None else float(hi))


def _axes(i: list[Any], a: dict[str, Any]) -> list[int]:
    if len(i) > 1 and i[1] is not None:
        return [int(v) for v in i[1].tolist()]
    return list(a.get("axes", []))


def _unsqueeze(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x = i[0]
    for ax in sorted(_axes(i, a)):
        x = x.unsqueeze(ax)
    return x


def _squeeze(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    axes = _axes(i, a)
    return i[0].squeeze(tuple(axes)) if axes else i[0].squeeze()


def _reduce(fn: Callable[..., torch.Tensor]) -> Op:
    def run(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
        axes = _axes(i, a) or list(range(i[0].dim()))
        return fn(i[0], dim=axes, keepdim=bool(a.get("keepdims", 1)))
    return run


def _pad(i: list[Any], a: dict[str, Any]) -> torch.Tensor:
    x = i[0]
    pads = [int(v) for v in (i[1].tolist() if len(i) > 1 else a["pads"])]
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    n = x.dim()
    flat: list[int] = []
    for d in reversed(range(n)):
        flat += [pads[d], pads[d + n]]
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    if mode == "constant":
        return F.pad(x, flat, value=float(i[2]) if len(i) > 2 and i[2] is not None else 0.0)
    return F.pad(x, flat, mode={"reflect": "reflect", "edge": "replicate"}[mode])


OPS: dict[str, Op] = {
    "Conv": _conv,
    "BatchNormalization": lambda i, a: F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5)),
    "PRelu": _prelu,
    "Relu": lambda i, a: F.relu(i[0]),
    "LeakyRelu": lambda i, a: F.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "Tanh": lambda i, a: torch.tanh(i[0]),
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Sqrt": lambda i, a: torch.sqrt(i[0]),
    "Pow": lambda i, a: torch.pow(i[0], i[1]),
    "MatMul": lambda i, a: i[0] @ i[1],
    "Gemm": _gemm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": lambda i, a: i[0].permute(*a["perm"]) if "perm" in a else i[0].permute(*reversed(range(i[0].dim()))),
    "Concat": lambda i, a: torch.cat(i, dim=a["axis"]),
    "Identity": lambda i, a: i[0],
    "Dropout": lambda i, a: i[0],
    "Clip": _clip,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "AveragePool": _pool("avg"),
    "MaxPool": _pool("max"),
    "GlobalAveragePool": lambda i, a: i[0].mean(dim=tuple(range(2, i[0].dim())), keepdim=True),
    "ReduceMean": _reduce(torch.mean),
    "ReduceSum": _reduce(torch.sum),
    "Pad": _pad,
    "Softmax": lambda i, a: torch.softmax(i[0], dim=a.get("axis", -1)),
}


class OnnxModule(nn.Module):
    """An ONNX graph (single input, first output by default) evaluated with torch operators."""

    def __init__(self, path: str | os.PathLike[str], output: int = 0) -> None:
        super().__init__()
        import onnx
        from onnx import helper, numpy_helper

        try:
            model = onnx.load(str(path))
        except Exception as exc:
            raise ModelError(f"cannot read the ONNX model {path}: {str(exc).splitlines()[0][:120]}") from None
        g = model.graph
        self._names: dict[str, str] = {}
        for k, init in enumerate(g.initializer):
            buf = f"w{k}_" + re.sub(r"\W", "_", init.name)[:40]
            self.register_buffer(buf, torch.from_numpy(numpy_helper.to_array(init).copy()), persistent=False)
            self._names[init.name] = buf
        inits = set(self._names)
        self.input_names = [i.name for i in g.input if i.name not in inits]
        self.output_name = g.output[output].name
        self._nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        for n in g.node:
            if n.op_type == "Constant":
                value = numpy_helper.to_array(n.attribute[0].t) if n.attribute[0].type == onnx.AttributeProto.TENSOR \
                    else np.asarray(helper.get_attribute_value(n.attribute[0]))
                buf = f"c{len(self._names)}"
                self.register_buffer(buf, torch.from_numpy(np.array(value)), persistent=False)
                self._names[n.output[0]] = buf
                continue
            if n.op_type not in OPS:
                raise ModelError(f"{os.path.basename(str(path))}: ONNX operator {n.op_type} is not supported by the "
                                 "torch converter (identity loss); use an ArcFace export made of common operators")
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            self._nodes.append((n.op_type, list(n.input), list(n.output), attrs))
        self.requires_grad_(False)
        self.eval()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {name: getattr(self, buf) for name, buf in self._names.items()}
        env[""] = None
        for name, x in zip(self.input_names, inputs, strict=False):
            env[name] = x
        for op, ins, outs, attrs in self._nodes:
            res = OPS[op]([env[i] for i in ins], attrs)
            env[outs[0]] = res
        return env[self.output_name]  # type: ignore[no-any-return]
