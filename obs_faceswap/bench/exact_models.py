"""Build the architecture-exact, random-weight ONNX models that ``bench neural`` times (torch extra).

``python -m obs_faceswap.bench.exact_models [--force] [NAME ...]`` builds them (once; later calls
reuse the cache) and prints each model's parameters and multiply-adds per face. The files go to a
cache folder outside the repository, keyed by a hash of this builder and the architectures
(``OBS_FACESWAP_EXACT_MODELS`` overrides the folder); they are never committed.

The models have the real files' ONNX signatures (DESIGN.md section 5) and the real layer shapes
(``_exact_archs``), so ONNX Runtime does the same work as with the real weights:

| name | signature |
|---|---|
| ``inswapper_128`` | ``target`` f32[B,3,128,128], ``source`` f32[B,512] -> ``output``; ``emap`` last initializer |
| ``gfpgan_1.4`` | ``input`` f32[1,3,512,512] -> ``output`` |
| ``bisenet_r34`` | ``input`` f32[B,3,512,512] -> ``output`` f32[B,19,512,512] (+ the two auxiliary heads) |
| ``w600k_r50`` | ``input.1`` f32[N,3,112,112] -> f32[N,512] |
| ``det_10g`` | ``input.1`` f32[1,3,H,W] -> scores s8/16/32 [n,1], boxes [n,4], key points [n,10] |

The swapper's batch axis is dynamic (the public inswapper file fixes it to 1; ReSwapper exports
can be dynamic), so faces of one frame can go through it together. Random weights find no faces:
``bench neural`` runs the exact detector for its cost and takes the face positions from the stand-in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXACT_MODELS = ("inswapper_128", "gfpgan_1.4", "bisenet_r34", "w600k_r50", "det_10g")
OPSET = 17


_SCRFD_OUTPUTS = tuple(f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in (8, 16, 32))


@dataclass(frozen=True)
class _Spec:
    family: str
    make: Callable[[], Any]  # -> torch module
    inputs: dict[str, tuple[int, ...]]  # example input shapes
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]


def _specs() -> dict[str, _Spec]:
    from obs_faceswap.bench import _exact_archs as a

    return {
        "inswapper_128": _Spec("inswapper", a.InswapperClass, {"target": (1, 3, 128, 128), "source": (1, 512)},
                               ("output",), {"target": {0: "batch"}, "source": {0: "batch"}, "output": {0: "batch"}}),
        "gfpgan_1.4": _Spec("gfpgan", a.GfpganV14, {"input": (1, 3, 512, 512)}, ("output",), {}),
        "bisenet_r34": _Spec("bisenet", a.BiSeNetR34, {"input": (1, 3, 512, 512)}, ("output", "output16", "output32"),
                             {"input": {0: "batch"}, "output": {0: "batch"}, "output16": {0: "batch"},
                              "output32": {0: "batch"}}),
        "w600k_r50": _Spec("arcface", a.IResNet50, {"input.1": (1, 3, 112, 112)}, ("embedding",),
                           {"input.1": {0: "N"}, "embedding": {0: "N"}}),
        "det_10g": _Spec("scrfd", a.Scrfd10g, {"input.1": (1, 3, 640, 640)}, _SCRFD_OUTPUTS,
                         {"input.1": {2: "height", 3: "width"}, **{n: {0: "rows_" + n.split("_")[1]}
                                                                    for n in _SCRFD_OUTPUTS}}),
    }


def builder_hash() -> str:
    """12 hex digits over what decides the files: the architectures' source and the export code
    (``_specs``, ``_build_one``, the opset); a change there rebuilds, an edit elsewhere does not."""
    import inspect

    h = hashlib.sha256(Path(__file__).with_name("_exact_archs.py").read_bytes())
    for part in (inspect.getsource(_specs), inspect.getsource(_build_one), str(OPSET)):
        h.update(part.encode())
    return h.hexdigest()[:12]


def cache_dir() -> Path:
    """Where the built models live: ``$OBS_FACESWAP_EXACT_MODELS`` or the user cache folder, per builder hash."""
    base = os.environ.get("OBS_FACESWAP_EXACT_MODELS")
    if base:
        return Path(base) / builder_hash()
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "obs-faceswap" / "exact-models" / builder_hash()


def model_path(name: str, *, fp16: bool = False, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / (f"{name}.fp16.onnx" if fp16 else f"{name}.onnx")


def _info_path(folder: Path) -> Path:
    return folder / "info.json"


def read_info(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Parameters, multiply-adds and file size of each built model (what the build printed)."""
    p = _info_path(folder or cache_dir())
    return json.loads(p.read_text()) if p.is_file() else {}


def _require_torch() -> Any:
    try:
        import torch
    except ImportError:
        from obs_faceswap.errors import FaceSwapError

        raise FaceSwapError("building the architecture-exact models needs torch (the 'train' extra): "
                            f"'{sys.executable}' -m pip install -e '.[train]'") from None
    return torch


def _build_one(name: str, spec: _Spec, path: Path) -> dict[str, Any]:
    torch = _require_torch()
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(sum(map(ord, name)))  # fixed per model: the same build gives the same file
    model = spec.make().eval()
    params = sum(p.numel() for p in model.parameters())
    args = tuple(torch.rand(*shape) for shape in spec.inputs.values())
    with FlopCounterMode(display=False) as counter:  # (its module tracker needs autograd on)
        model(*args)
    macs = counter.get_total_flops() // 2
    tmp = path.with_suffix(".part")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and constant-folding notes
        torch.onnx.export(model, args, str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=list(spec.inputs), output_names=list(spec.outputs),
                          dynamic_axes=spec.dynamic or None, do_constant_folding=True)
    if spec.family == "inswapper":  # the emap (512x512 float32) is the last initializer, as in the real file
        proto = onnx.load(str(tmp))
        rng = np.random.default_rng(7)
        emap = (rng.standard_normal((512, 512)) / np.sqrt(512)).astype(np.float32)
        proto.graph.initializer.append(numpy_helper.from_array(emap, "emap"))
        onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return {"family": spec.family, "params": int(params), "macs": int(macs), "bytes": path.stat().st_size,
            "inputs": {k: list(v) for k, v in spec.inputs.items()}}


def ensure(names: Sequence[str] = EXACT_MODELS, *, force: bool = False, fp16: bool = False,
           progress: bool = True) -> dict[str, Path]:
    """Paths of the built models ``names`` (building the missing ones; ``fp16`` adds half-precision
    variants made by ``models.fp16``). Prints one line per model built."""
    unknown = [n for n in names if n not in EXACT_MODELS]
    if unknown:
        raise ValueError(f"unknown exact model(s) {', '.join(unknown)}; choose from {', '.join(EXACT_MODELS)}")
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.parent.iterdir():  # builds of an older builder: never read again
        if old.is_dir() and old != folder and len(old.name) == 12 and (old / "info.json").is_file():
            shutil.rmtree(old, ignore_errors=True)
    info = read_info(folder)
    missing = any(force or not model_path(n).is_file() or n not in info for n in names)
    specs = _specs() if missing and _require_torch() else {}
    out: dict[str, Path] = {}
    for name in names:
        path = model_path(name)
        if force or not path.is_file() or name not in info:
            t0 = time.perf_counter()
            if progress:
                print(f"building {name} (random weights, exact architecture) ...", file=sys.stderr, flush=True)
            info[name] = _build_one(name, specs[name], path)
            info[name]["build_s"] = round(time.perf_counter() - t0, 1)
            _info_path(folder).write_text(json.dumps(info, indent=1))
            if progress:
                print("  " + describe(name, info[name]), file=sys.stderr, flush=True)
        out[name] = path
        if fp16:
            half = model_path(name, fp16=True)
            if force or not half.is_file():
                from obs_faceswap.models.fp16 import convert_file

                convert_file(path, half)
            out[f"{name}.fp16"] = half
    return out


SKELETON_MIN_ELEMENTS = 4096  # float initializers at least this big travel as (mean, std) only
_FILL_KEY = "obs_faceswap_fill"


def write_skeletons(folder: Path, names: Sequence[str] = EXACT_MODELS) -> list[Path]:
    """Write each built model without its large weights (a few hundred KB each, for a machine without
    torch: ``inflate_skeletons`` there gives random weights of the same shapes and scale)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    paths = ensure(names)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        model = onnx.load(str(paths[name]))
        fill: dict[str, list[float]] = {}
        for t in model.graph.initializer:
            if t.data_type == onnx.TensorProto.FLOAT and int(np.prod(t.dims)) >= SKELETON_MIN_ELEMENTS:
                a = numpy_helper.to_array(t)
                fill[t.name] = [float(a.mean()), float(a.std())]
                t.ClearField("raw_data")
                t.ClearField("float_data")
        entry = model.metadata_props.add()
        entry.key, entry.value = _FILL_KEY, json.dumps(fill)
        dst = folder / f"{name}.skeleton.onnx"
        onnx.save(model, str(dst))
        out.append(dst)
    (folder / "info.json").write_text(json.dumps({n: read_info()[n] for n in names}, indent=1))
    (folder / "builder").write_text(builder_hash())
    return out


def inflate_skeletons(folder: Path) -> dict[str, Path]:
    """Models from ``write_skeletons``' files, without torch: weights drawn at each tensor's mean and std."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from obs_faceswap.errors import FaceSwapError

    marker = folder / "builder"
    if not marker.is_file() or marker.read_text().strip() != builder_hash():
        raise FaceSwapError(f"{folder} holds no skeletons of this builder ({builder_hash()}): write them again "
                            "with 'python -m obs_faceswap.bench.exact_models --skeletons DIR' from this checkout")
    dst = cache_dir()
    dst.mkdir(parents=True, exist_ok=True)
    info = json.loads((folder / "info.json").read_text())
    rng = np.random.default_rng(11)
    out = {}
    for name in info:
        model = onnx.load(str(folder / f"{name}.skeleton.onnx"))
        meta = next(p for p in model.metadata_props if p.key == _FILL_KEY)
        fill = json.loads(meta.value)
        for i, t in enumerate(model.graph.initializer):
            if t.name in fill:
                mean, std = fill[t.name]
                a = rng.normal(mean, std, tuple(t.dims)).astype(np.float32)
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, t.name))
        model.metadata_props.remove(meta)
        onnx.save(model, str(model_path(name)))
        out[name] = model_path(name)
    _info_path(dst).write_text(json.dumps({**read_info(dst), **info}, indent=1))
    return out


def describe(name: str, entry: dict[str, Any]) -> str:
    return (f"{name}: {entry['params'] / 1e6:.1f} M parameters, {entry['macs'] / 1e9:.1f} G multiply-adds "
            f"per face, {entry['bytes'] / 2 ** 20:.0f} MiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m obs_faceswap.bench.exact_models",
        description="Build random-weight ONNX models with the real architectures and signatures (for "
                    "'obs-faceswap bench neural'), into a cache folder outside the repository; print their "
                    "parameters and multiply-adds.")
    parser.add_argument("names", nargs="*", default=list(EXACT_MODELS), help=f"models (default: all: {', '.join(EXACT_MODELS)})")
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    parser.add_argument("--fp16", action="store_true", help="also write half-precision variants (*.fp16.onnx)")
    parser.add_argument("--skeletons", metavar="DIR", type=Path,
                        help="also write the models without their large weights into DIR (for a machine without torch)")
    parser.add_argument("--from-skeletons", metavar="DIR", type=Path,
                        help="make the models from skeletons in DIR (no torch needed; random weights)")
    args = parser.parse_args(argv)
    from obs_faceswap.errors import FaceSwapError

    try:
        if args.from_skeletons:
            inflate_skeletons(args.from_skeletons)
        ensure(args.names, force=args.force, fp16=args.fp16)
        if args.skeletons:
            for p in write_skeletons(args.skeletons, args.names):
                print(f"skeleton: {p} ({p.stat().st_size // 1024} KiB)")
    except FaceSwapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = read_info()
    print(f"folder: {cache_dir()}")
    for name in args.names:
        print(describe(name, info[name]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
