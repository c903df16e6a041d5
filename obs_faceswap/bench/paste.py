"""``obs-faceswap bench paste``: our ROI paste-back vs insightface's full-frame ``INSwapper.get``.

Both sides run the same stand-in inswapper (built here with the real signature, near-free to
run), the same face (the astronaut, scaled into a 1280x720 frame) and the same source latent,
so the difference is what each does around the model: align, swap, mask and paste back.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from obs_faceswap.bench import p50, p99, report, time_ms

FRAME_W, FRAME_H = 1280, 720
# astronaut face key points (skimage.data.astronaut(), 512x512)
_ASTRONAUT_KPS = np.array([[202, 101], [246, 103], [225, 125], [207, 146], [243, 147]], np.float32)


def _frame() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((FRAME_H, FRAME_W, 3), 90, np.uint8)
    x0 = (FRAME_W - 720) // 2
    frame[:, x0:x0 + 720] = cv2.resize(face, (720, 720), interpolation=cv2.INTER_LINEAR)
    kps = _ASTRONAUT_KPS * (720 / 512) + [x0, 0]
    return frame, kps.astype(np.float32)


def _standin(path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
             numpy_helper.from_array((rng.standard_normal((512, 512)) / 23).astype(np.float32), "emap")]
    nodes = [helper.make_node("ReduceMean", ["source"], ["s"], axes=[1], keepdims=1),
             helper.make_node("Mul", ["target", "half"], ["t"]),
             helper.make_node("Add", ["t", "s"], ["output"])]
    graph = helper.make_graph(
        nodes, "inswapper_bench",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def measure(repeat: int = 30) -> dict[str, Any]:
    import onnxruntime as ort

    from obs_faceswap.models.session import create_session
    from obs_faceswap.vision.inswapper import InSwapper
    from obs_faceswap.vision.paste import box_mask, paste_back
    from obs_faceswap.vision.types import Face

    ort.set_default_logger_severity(3)
    frame, kps = _frame()
    embedding = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    embedding /= np.linalg.norm(embedding)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inswapper_128.onnx"
        _standin(path)
        ours = InSwapper(create_session(path, "cpu"))
        with contextlib.redirect_stdout(io.StringIO()):
            import insightface

            theirs = insightface.model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
    face = Face(bbox=np.array([0, 0, 1, 1], np.float32), score=1.0, kps=kps)
    latent = ours.source_latent(embedding)
    mask = box_mask(ours.size, 0.3, 0.0)

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

    t_ours = time_ms(run_ours, repeat=repeat)
    t_paste = time_ms(run_paste_only, repeat=repeat)
    t_theirs = time_ms(run_theirs, repeat=max(5, repeat // 3), warmup=2)
    return {
        "frame": f"{FRAME_W}x{FRAME_H}",
        "ours_ms": round(p50(t_ours), 3),
        "ours_p99_ms": round(p99(t_ours), 3),
        "ours_paste_only_ms": round(p50(t_paste), 3),
        "insightface_ms": round(p50(t_theirs), 3),
        "speedup": round(p50(t_theirs) / p50(t_ours), 1),
    }


def run(args: argparse.Namespace) -> int:
    try:
        import insightface  # noqa: F401
        import skimage  # noqa: F401
    except ImportError:
        from obs_faceswap.errors import FaceSwapError

        raise FaceSwapError("bench paste compares against insightface and uses scikit-image's sample photo: "
                            "pip install 'obs-faceswap[test]'") from None
    report(measure(args.repeat), as_json=args.json,
           title="paste-back: ours (align+swap+ROI paste) vs insightface INSwapper.get(paste_back=True), p50 ms")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("paste", help="face paste-back vs insightface's INSwapper",
                            description="Time align + swap + paste-back of one face in a 1280x720 frame: ours "
                                        "(ROI only, cached mask) vs insightface 2.1's INSwapper.get(paste_back=True)"
                                        " with the same stand-in model.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs (default 30)")
    parser.set_defaults(func=run)
