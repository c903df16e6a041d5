"""``obs-faceswap bench train``: training steps per second of each trainer at its default width.

Both trainers run their real ``train_step`` (forward, losses, backward, Adam) at the widths their
commands default to (ReSwapper width 128 with 6 style blocks at 128 px; DF 128 px with ae 256,
e 64, d 64, mask 22) on faces extracted from the shipped astronaut photo and augmented copies.
The ReSwapper teacher and ArcFace are the stand-ins unless ``--teacher``/``--embedder`` name real
files (a real ArcFace adds its own forward and backward to every step). Batches are made before
the clock starts (in training, data-loader workers make them in parallel). The named baseline,
measured in the same run, is a float32 matrix product on the same device (``baseline_matmul_gflops``):
it says how fast the machine is, so figures from two machines can be compared.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2

from obs_faceswap.bench import report


def _faceset(folder: Path) -> Path:
    """The astronaut and 5 rotated / brightened / mirrored copies, extracted at 256 px."""
    from obs_faceswap.bench.photos import astronaut_bgr
    from obs_faceswap.train.extract import ExtractOptions, extract
    from obs_faceswap.vision.embedded import EmbeddedDetector

    img = astronaut_bgr()
    photos = folder / "photos"
    photos.mkdir()
    for k, (angle, gain, flip) in enumerate([(0, 1.0, False), (8, 1.1, False), (-8, 0.9, False), (0, 1.0, True),
                                             (5, 0.8, True), (-5, 1.2, True)]):
        m = cv2.getRotationMatrix2D((256, 256), angle, 1.0)
        x = cv2.convertScaleAbs(cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REFLECT), alpha=gain)
        cv2.imwrite(str(photos / f"{k}.png"), x[:, ::-1] if flip else x)
    out = folder / "faces"
    extract([photos], out, EmbeddedDetector(threads=1), ExtractOptions(size=256, duplicate_threshold=1.01),
            progress=False)
    return out


def _steps_per_s(trainer: Any, steps: int) -> float:
    import torch

    batches = [{k: torch.as_tensor(v) for k, v in trainer.make_batch(i).items()} for i in range(steps + 1)]
    trainer.train_step(batches[0])  # warm-up (allocations, kernels)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for b in batches[1:]:
        trainer.train_step(b)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def _matmul_gflops(device: Any) -> float:
    import torch

    n = 1024
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    for _ in range(2):
        a @ b
    reps = 20 if device.type == "cpu" else 200
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def measure(*, steps: int = 2, reswapper_batch: int = 1, dfm_batch: int = 4, device: str = "auto",
            teacher: str | None = None, embedder: str | None = None, which: str = "both") -> dict[str, Any]:
    import torch

    from obs_faceswap.models.standins.face import build_arcface, build_inswapper
    from obs_faceswap.train.common import pick_device
    from obs_faceswap.train.dfm import DfmTrainer
    from obs_faceswap.train.dfm_model import DfmShape
    from obs_faceswap.train.extract import read_faceset
    from obs_faceswap.train.reswapper import ReswapperTrainer

    dev = pick_device(device)
    result: dict[str, Any] = {"device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
                              "torch_threads": torch.get_num_threads()}
    result["baseline_matmul_gflops"] = round(_matmul_gflops(dev), 1)
    with tempfile.TemporaryDirectory() as tmp:
        faces = read_faceset(_faceset(Path(tmp)), min_faces=2)
        if which in ("both", "reswapper"):
            t = teacher or str(build_inswapper(Path(tmp) / "inswapper_128.onnx"))
            e = embedder or str(build_arcface(Path(tmp) / "w600k_r50.onnx"))
            tr = ReswapperTrainer(faces, t, e, batch=reswapper_batch, device=dev)
            sps = _steps_per_s(tr, steps)
            result.update(reswapper_steps_per_s=round(sps, 4), reswapper_faces_per_s=round(sps * reswapper_batch, 3),
                          reswapper_batch=reswapper_batch, reswapper_width=tr.width,
                          reswapper_teacher="standin" if teacher is None else Path(teacher).name,
                          reswapper_embedder="standin" if embedder is None else Path(embedder).name)
            del tr
        if which in ("both", "dfm"):
            shape = DfmShape()
            tr2 = DfmTrainer(faces, faces, shape, batch=dfm_batch, device=dev)
            sps = _steps_per_s(tr2, steps)
            result.update(dfm_steps_per_s=round(sps, 4), dfm_batch=dfm_batch, dfm_arch=shape.arch,
                          dfm_resolution=shape.resolution)
    return result


def run(args: argparse.Namespace) -> int:
    res = measure(steps=args.steps, reswapper_batch=args.reswapper_batch, dfm_batch=args.dfm_batch,
                  device=args.device, teacher=args.teacher, embedder=args.embedder, which=args.only)
    report(res, as_json=args.json, title="training steps per second (default widths)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("train", help="training steps/s of the reswapper and dfm trainers (needs the train extra)",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--steps", type=int, default=2, help="timed steps per trainer after one warm-up (default: 2)")
    p.add_argument("--reswapper-batch", type=int, default=1, help="faces per ReSwapper step (default: 1)")
    p.add_argument("--dfm-batch", type=int, default=4, help="faces of each set per DFM step (default: 4)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--teacher", default=None, help="a real inswapper-signature ONNX instead of the stand-in")
    p.add_argument("--embedder", default=None, help="a real ArcFace ONNX instead of the stand-in")
    p.add_argument("--only", default="both", choices=("both", "reswapper", "dfm"), help="which trainers (default: both)")
    p.set_defaults(func=run)
