"""``obs-faceswap bench paste``: our ROI paste-back vs insightface's full-frame ``INSwapper.get``.

Both sides run the same stand-in inswapper (``obs_faceswap.models.standins.face``: the real
signature, near-free to run), the same face (the astronaut, scaled into a 1280x720 frame) and
the same source identity, so the difference is what each does around the model: align, swap,
mask and paste back. (Ours computes the source latent once per source, as the pipeline does;
insightface recomputes it per call, a 512x512 product, ~0.05 ms.) Calls run in interleaved blocks
so both see the same background load with warm caches; p50 is the headline, p90/p99 show the spread.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from obs_faceswap.bench import p50, p99, report
from obs_faceswap.bench.photos import astronaut_frame

FRAME_W, FRAME_H = 1280, 720
def _frame() -> tuple[np.ndarray, np.ndarray]:
    return astronaut_frame(FRAME_W, FRAME_H, 720)


def measure(repeat: int = 40) -> dict[str, Any]:
    import onnxruntime as ort

    from obs_faceswap.models.session import create_session
    from obs_faceswap.models.standins.face import build_inswapper
    from obs_faceswap.vision.masks import box_mask
    from obs_faceswap.vision.paste import paste_back
    from obs_faceswap.vision.swappers.inswapper import InSwapper
    from obs_faceswap.vision.types import Face

    ort.set_default_logger_severity(3)
    frame, kps = _frame()
    embedding = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inswapper_128.onnx"
        build_inswapper(path)
        ours = InSwapper(create_session(path, "cpu"))
        with contextlib.redirect_stdout(io.StringIO()):
            import insightface

            theirs = insightface.model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
    face = Face(bbox=np.array([0, 0, 1, 1], np.float32), score=1.0, kps=kps)
    latent = ours.source_latent(embedding)
    mask = box_mask(ours.size, blur=0.3)

    def run_ours() -> None:
        out = frame.copy()
        crop, m = ours.align(frame, face)
        swapped = ours.swap_crop(crop, latent)
        paste_back(out, swapped, m, mask, 1.0)

    crop, m = ours.align(frame, face)
    swapped = ours.swap_crop(crop, latent)

    def run_paste_only() -> None:
        paste_back(frame.copy(), swapped, m, mask, 1.0)

    target = SimpleNamespace(kps=kps)
    source = SimpleNamespace(normed_embedding=embedding)

    def run_theirs() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # skimage deprecation inside insightface
            theirs.get(frame, target, source, paste_back=True)

    def run_model_only() -> None:
        ours.swap_crop(crop, latent)

    samples = _interleaved({"ours": run_ours, "paste": run_paste_only, "model": run_model_only,
                            "theirs": run_theirs}, repeat)
    t_ours, t_paste, t_theirs = samples["ours"], samples["paste"], samples["theirs"]
    return {
        "frame": f"{FRAME_W}x{FRAME_H}",
        "repeat": repeat,
        "ours_ms": round(p50(t_ours), 3),
        "ours_p90_ms": round(_pct(t_ours, 0.90), 3),
        "ours_p99_ms": round(p99(t_ours), 3),
        "ours_paste_only_ms": round(p50(t_paste), 3),
        "standin_model_ms": round(p50(samples["model"]), 3),  # inside both sides' numbers
        "insightface_ms": round(p50(t_theirs), 3),
        "insightface_p90_ms": round(_pct(t_theirs, 0.90), 3),
        "speedup": round(p50(t_theirs) / p50(t_ours), 1),
    }


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return float(s[min(len(s) - 1, int(round(q * (len(s) - 1))))])


def _interleaved(fns: dict[str, Callable[[], None]], repeat: int, warmup: int = 1,
                 block: int = 5) -> dict[str, list[float]]:
    """Milliseconds per call of each function, in interleaved blocks (A×5 B×5 C×5 A×5 ...), GC paused.

    Blocks keep each contender's caches warm, as in live use where the same code runs frame
    after frame (interleaving single calls would charge ours for the cache misses insightface's
    full-frame warps cause), while alternating blocks still exposes every contender to the same
    background load. The first ``warmup`` rounds (ORT allocations, first-touch) are not counted.
    """
    out: dict[str, list[float]] = {name: [] for name in fns}
    rounds = warmup + max(1, -(-repeat // block))
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for i in range(rounds):
            for name, fn in fns.items():
                for _ in range(block):
                    t0 = time.perf_counter()
                    fn()
                    if i >= warmup:
                        out[name].append((time.perf_counter() - t0) * 1000.0)
    finally:
        if enabled:
            gc.enable()
    return out


def run(args: argparse.Namespace) -> int:
    try:
        import insightface  # noqa: F401
    except ImportError:
        from obs_faceswap.errors import FaceSwapError

        raise FaceSwapError("bench paste compares against insightface 2.1, which is not installed here: "
                            f"'{sys.executable}' -m pip install insightface==2.1 (or installer/install.sh "
                            "--extras test)") from None
    report(measure(args.repeat), as_json=args.json,
           title="paste-back: ours (align+swap+ROI paste) vs insightface INSwapper.get(paste_back=True), p50 ms")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("paste", help="face paste-back vs insightface's INSwapper",
                            description="Time align + swap + paste-back of one face in a 1280x720 frame: ours "
                                        "(paste into the face region only, cached mask) beside insightface 2.1's "
                                        "INSwapper.get with paste_back (whole-frame warps), both running the same "
                                        "stand-in inswapper model, so the difference is the work around the model.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=40, help="timed rounds, each running all three (default: 40)")
    parser.set_defaults(func=run)
