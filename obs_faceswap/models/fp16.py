"""Half-precision (fp16) variants of ONNX models for the GPU path.

``python -m obs_faceswap.models.fp16 IN.onnx [OUT.onnx]`` writes ``IN.fp16.onnx`` by default. Weights
and arithmetic become float16, the inputs and outputs stay float32 (``keep_io_types``), so the
project's pre- and post-processing and the signature checks are unchanged. An inswapper-family
file keeps its ``emap`` as the last initializer (in float32: the source latent is computed on the
host). Needs ``onnxconverter-common`` (the ``gpu`` and ``test`` extras). fp16 pays on GPUs with
tensor cores; ONNX Runtime's CPU provider lacks fp16 kernels for many operators, so on a CPU keep
the float32 file.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from obs_faceswap.errors import FaceSwapError

# operators left in float32: normalisations whose sums overflow or lose precision in fp16
KEEP_FLOAT32 = ("InstanceNormalization", "ReduceMean", "ReduceSum", "Pow", "Sqrt", "Reciprocal")


def default_output(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".fp16.onnx")


def convert_file(src: str | Path, dst: str | Path | None = None) -> Path:
    """Write the fp16 variant of ``src`` to ``dst`` (default ``NAME.fp16.onnx`` beside it); returns its path."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise FaceSwapError("fp16 conversion needs onnxconverter-common: "
                            f"'{sys.executable}' -m pip install onnxconverter-common (or the 'gpu' extra)") from None
    import onnx
    from onnx import numpy_helper

    from obs_faceswap.models.session import invalid_model_error

    src = Path(src)
    out = Path(dst) if dst else default_output(src)
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # protobuf DecodeError, truncated file
        raise invalid_model_error(src, exc, user_file=True) from None
    inits = model.graph.initializer
    emap = None
    if len(inits) and inits[-1].name == "emap":  # inswapper family: keep the emap last and float32
        emap = numpy_helper.to_array(inits[-1])
        del inits[-1]
    for i, node in enumerate(model.graph.node):  # the converter names its casts after the nodes
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    used = {i for node in model.graph.node for i in node.input}
    for dead in [t for t in inits if t.name not in used]:
        inits.remove(dead)  # unused weights would be converted and kept for nothing
    with warnings.catch_warnings():  # one line per weight too small for fp16 (clamped to 1e-7): noise
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=list(KEEP_FLOAT32)
                                                + list(float16.DEFAULT_OP_BLOCK_LIST))
    _drop_duplicate_casts(half.graph)
    if emap is not None:
        half.graph.initializer.append(numpy_helper.from_array(emap.astype("float32"), "emap"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    onnx.save(half, str(tmp))
    tmp.replace(out)
    return out


def _drop_duplicate_casts(graph: object) -> None:
    """An input read by several nodes can get one identical input Cast per reader (same name, same
    output): keep the first, or ONNX Runtime rejects the file."""
    seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()
    nodes = graph.node  # type: ignore[attr-defined]
    for node in list(nodes):
        key = (node.op_type, tuple(node.input), tuple(node.output))
        if node.op_type == "Cast" and key in seen:
            nodes.remove(node)
        seen.add(key)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obs_faceswap.models.fp16",
                                     description="Write a half-precision (fp16) variant of an ONNX model for GPUs; "
                                                 "inputs and outputs stay float32.")
    parser.add_argument("model", help="the float32 .onnx file")
    parser.add_argument("output", nargs="?", help="where to write it (default: MODEL.fp16.onnx beside it)")
    args = parser.parse_args(argv)
    try:
        print(convert_file(args.model, args.output))
    except FaceSwapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
