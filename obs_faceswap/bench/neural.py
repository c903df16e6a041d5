"""``obs-faceswap bench neural``: what the neural path really costs, on architecture-exact models.

Every other neural figure runs near-free stand-ins; this one runs random-weight models with the real
architectures and ONNX signatures (``bench.exact_models``: an inswapper/ReSwapper-128-class swapper,
GFPGAN 1.4, BiSeNet ResNet-34 at 512, ArcFace w600k_r50, SCRFD det_10g), built once with torch into a
cache folder. Random weights find no faces, so the face positions come from a stand-in detector's outputs
decoded after the exact det_10g has run on the frame (the JSON says so in ``stand_ins``).

Per stage (detect, embed, swap, enhance, parse, paste) and per frame at 1280x720 and 1920x1080 with
1 and 3 faces, through the project's own classes (``ScrfdDetector``, ``ArcFace``, ``InSwapper``,
``FaceEnhancer``, ``FaceParser``, ``paste_back``), models run through IO binding
(``models.device.BoundSession``) and the faces of a frame go through the swapper as one batch. The
named baseline in the same run: three faces swapped one by one through plain ``Session.run``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from obs_faceswap.bench import p50, report, time_ms
from obs_faceswap.bench.photos import astronaut_bgr

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
FACE_COUNTS = (1, 3)
GPU_PROVIDERS = ("cuda", "tensorrt")
# the astronaut's face box in the 512x512 photo (bench.photos has its key points)
_PHOTO_BOX = np.array([177.0, 66.0, 272.0, 175.0], np.float32)
_FACE_REGIONS = (1, 2, 3, 4, 5, 6, 10, 11, 12, 13)  # parser classes of the face itself


def group_frame(width: int, height: int, faces: int) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """A grey frame with ``faces`` copies of the astronaut side by side; each face's (box, key points)."""
    from obs_faceswap.bench.photos import ASTRONAUT_KPS

    frame = np.full((height, width, 3), 90, np.uint8)
    side = min(height, width // faces)
    photo = astronaut_bgr()
    import cv2

    scaled = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    y0 = (height - side) // 2
    placed = []
    for i in range(faces):
        x0 = (width - faces * side) // 2 + i * side
        frame[y0:y0 + side, x0:x0 + side] = scaled
        k = side / 512.0
        box = _PHOTO_BOX * k + np.array([x0, y0, x0, y0], np.float32)
        placed.append((box, (ASTRONAUT_KPS * k + [x0, y0]).astype(np.float32)))
    return frame, placed


class _Models:
    """The loaded models of one bench run and the per-frame path over them."""

    def __init__(self, paths: dict[str, Path], provider: str, io_binding: bool, cuda_graph: bool) -> None:
        from obs_faceswap.models.device import BoundSession, device_options
        from obs_faceswap.models.session import create_session
        from obs_faceswap.models.signatures import family_signature
        from obs_faceswap.vision.arcface import ArcFace
        from obs_faceswap.vision.enhance import FaceEnhancer
        from obs_faceswap.vision.masks import FaceParser
        from obs_faceswap.vision.swappers.inswapper import InSwapper

        def load(key: str, family: str, **batch: Any) -> Any:
            ins, outs = family_signature(family)
            opts = device_options(cuda_graph=cuda_graph, batch_inputs=batch or None)
            sess = create_session(paths[key], provider, expect_inputs=ins, expect_outputs=outs, family=family,
                                  options=opts)
            return BoundSession(sess, cuda_graph=cuda_graph) if io_binding else sess

        swap = load("swap", "inswapper", target=(3, 128, 128), source=(512,))
        self.swap_runner = swap if io_binding else None
        self.swapper = InSwapper(swap.session if io_binding else swap)
        self.embedder = ArcFace(load("embed", "arcface", **{"input.1": (3, 112, 112)}))
        self.enhancer = FaceEnhancer(load("enhance", "gfpgan"), "gfpgan")
        self.parser = FaceParser(load("parse", "bisenet", input=(3, 512, 512)))
        self.det_model = load("detect", "scrfd")
        self.detectors: dict[tuple[str, int], Any] = {}

    def providers(self) -> dict[str, str]:
        return {"swap": self.swapper.session.providers[0], "embed": self.embedder.session.providers[0],
                "enhance": self.enhancer.session.providers[0], "parse": self.parser.session.providers[0],
                "detect": self.det_model.providers[0]}

    def frame(self, frame: np.ndarray, detector: Any, latent: np.ndarray, laps: dict[str, float] | None = None,
              *, batch: bool = True) -> np.ndarray:
        """One frame through detect -> align -> swap (batched) -> enhance -> parse/mask -> paste."""
        from obs_faceswap.vision.align import transform_points
        from obs_faceswap.vision.masks import box_mask
        from obs_faceswap.vision.paste import paste_back
        from obs_faceswap.vision.swappers.batch import swap_crops

        laps = laps if laps is not None else {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            laps[name] = laps.get(name, 0.0) + (now - t) * 1000.0
            t = now

        faces = detector.detect(frame)
        lap("detect")
        aligned = [self.swapper.align(frame, f) for f in faces]
        lap("align")
        crops = [c for c, _ in aligned]
        if batch:
            swapped = swap_crops(self.swapper, crops, latent, runner=self.swap_runner)
        else:
            swapped = [self.swapper.swap_crop(c, latent) for c in crops]
        lap("swap")
        for i, (face, (_, m)) in enumerate(zip(faces, aligned, strict=True)):
            swapped[i] = self.enhancer.enhance(swapped[i], transform_points(face.kps, m), 1.0)
        lap("enhance")
        box = box_mask(self.swapper.size, (0.0, 0.0, 0.0, 0.0), 0.3)
        masks = [np.minimum(box, self.parser.region_mask(self.parser.labels(s), _FACE_REGIONS)) for s in swapped]
        lap("parse")
        out = frame.copy()
        for s, (_, m), mask in zip(swapped, aligned, masks, strict=True):
            paste_back(out, s, m, mask, 1.0)
        lap("paste")
        laps["faces"] = laps.get("faces", 0.0) + len(faces)
        return out


class _Detector:
    """The exact det_10g runs on the letterboxed frame for its cost; random weights find no faces, so
    the faces come from the stand-in's outputs (near-free) through the real SCRFD decoder."""

    def __init__(self, model: Any, placed: Any) -> None:
        self.model, self.placed = model, placed

    def detect(self, frame: np.ndarray) -> list[Any]:
        from obs_faceswap.vision.scrfd import INPUT_SIZE, decode, letterbox

        blob, scale = letterbox(frame)
        self.model.run({"input.1": blob})
        outs = self.placed.run({"input.1": blob})
        return decode(outs, INPUT_SIZE, scale, 0.5, 0.4)


def _detector(models: _Models, tmp: Path, size: str, faces: int, provider: str) -> _Detector:
    from obs_faceswap.models.session import create_session
    from obs_faceswap.models.standins.face import PlacedFace, build_scrfd

    key = (size, faces)
    if key not in models.detectors:
        w, h = SIZES[size]
        _, placed = group_frame(w, h, faces)
        path = build_scrfd(tmp / f"scrfd_{size}_{faces}.onnx", [PlacedFace(tuple(b), [tuple(p) for p in k])
                                                                  for b, k in placed],
                           frame_size=(w, h), duplicates=False)
        models.detectors[key] = _Detector(models.det_model, create_session(path, "cpu"))
    return models.detectors[key]


def measure(provider: str = "cpu", *, fp16: bool = False, repeat: int | None = None,
            frame_repeat: int | None = None, sizes: Sequence[str] = tuple(SIZES), io_binding: bool = True,
            cuda_graph: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the bench; returns the JSON-ready result. ``repeat``/``frame_repeat`` default to few runs on
    the CPU (seconds per face) and more on a GPU."""
    import tempfile

    import onnxruntime as ort

    from obs_faceswap.bench.exact_models import ensure, read_info
    from obs_faceswap.models.device import gpu_memory
    from obs_faceswap.vision.pipeline_build import provider_note

    say = progress or (lambda _msg: None)
    ort.set_default_logger_severity(3)
    gpu = provider in GPU_PROVIDERS
    dedicated = gpu or repeat is not None  # CPU default: a face costs seconds, so no stage runs twice
    if gpu:
        from obs_faceswap.models.device import preload_gpu_libraries

        preload_gpu_libraries()
    repeat = repeat or (20 if gpu else 1)
    frame_repeat = frame_repeat or (10 if gpu else 1)
    names = {"detect": "det_10g", "swap": "inswapper_128", "embed": "w600k_r50", "enhance": "gfpgan_1.4",
             "parse": "bisenet_r34"}
    built = ensure(list(names.values()), fp16=fp16)
    paths = {k: built[f"{v}.fp16" if fp16 else v] for k, v in names.items()}
    info = read_info()
    t_load = time.perf_counter()
    say(f"loading the models on {provider}")
    models = _Models(paths, provider, io_binding, cuda_graph)
    load_s = time.perf_counter() - t_load
    rng = np.random.default_rng(0)
    latent = models.swapper.source_latent(rng.standard_normal(512).astype(np.float32))
    result: dict[str, Any] = {"architecture": "exact", "provider_asked": provider, "fp16": fp16,
                              "io_binding": io_binding, "cuda_graph": cuda_graph, "swap_batched": True}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        frame1, placed1 = group_frame(*SIZES["720p"], 1)
        frame3, placed3 = group_frame(*SIZES["720p"], 3)
        det1 = _detector(models, tmp, "720p", 1, provider)
        faces1, faces3 = det1.detect(frame1), _detector(models, tmp, "720p", 3, provider).detect(frame3)
        if len(faces1) != 1 or len(faces3) != 3:
            raise RuntimeError(f"the stand-in detector found {len(faces1)}/{len(faces3)} faces, expected 1/3")
        crops3 = [models.swapper.align(frame3, f) for f in faces3]
        crop, m = crops3[0]
        from obs_faceswap.vision.align import transform_points
        from obs_faceswap.vision.masks import box_mask
        from obs_faceswap.vision.paste import paste_back
        from obs_faceswap.vision.swappers.batch import swap_crops

        say("warm-up: one 720p frame with 1 face")
        models.frame(frame1, det1, latent)  # every model's first run (allocations) is not timed
        heavy = {"warmup": 1 if gpu else 0, "repeat": repeat}
        light = max(5, repeat) if dedicated else 2
        stage: dict[str, list[float]] = {}
        say("stages: detect, embed, paste" + (f", swap x{repeat}, enhance x{repeat}, parse x{repeat}" if dedicated
                                              else " (swap, enhance, parse: their laps in the frames below)"))
        stage["detect"] = time_ms(lambda: det1.detect(frame1), repeat=light, warmup=2 if gpu else 0)
        stage["embed"] = time_ms(lambda: models.embedder.embed_faces(frame1, faces1), repeat=light, warmup=1 if gpu else 0)
        mask = box_mask(models.swapper.size, (0.0, 0.0, 0.0, 0.0), 0.3)
        stage["paste"] = time_ms(lambda: paste_back(frame1.copy(), crop, m, mask, 1.0), repeat=20, warmup=2)
        crops = [c for c, _ in crops3]
        if dedicated:
            stage["swap"] = time_ms(lambda: swap_crops(models.swapper, [crop], latent, runner=models.swap_runner),
                                    **heavy)
            swapped = swap_crops(models.swapper, [crop], latent, runner=models.swap_runner)[0]
            kps = transform_points(faces3[0].kps, m)
            stage["enhance"] = time_ms(lambda: models.enhancer.enhance(swapped, kps, 1.0), **heavy)
            stage["parse"] = time_ms(lambda: models.parser.labels(swapped), **heavy)
            stage["swap3_batched"] = time_ms(
                lambda: swap_crops(models.swapper, crops, latent, runner=models.swap_runner), **heavy)
        say(f"baseline: 3 faces one by one through Session.run x{repeat}")
        stage["swap3_sequential_plain"] = time_ms(  # InSwapper.swap_crop: the Session itself, no IO binding
            lambda: [models.swapper.swap_crop(c, latent) for c in crops], **heavy)
        for name, samples in stage.items():
            result[f"{name}_ms"] = round(p50(samples), 2)
        result["stage_repeats"] = {"heavy": repeat, "detect": light, "embed": light, "paste": 20}
        result["stages_from"] = ("dedicated runs" if dedicated else
                                 f"swap/enhance/parse: laps of the {sizes[0]} frames (one run each on the CPU)")
        for size in sizes:
            w, h = SIZES[size]
            for n in FACE_COUNTS:
                frame, _ = group_frame(w, h, n)
                det = _detector(models, tmp, size, n, provider)
                say(f"frame {size} with {n} face(s) x{frame_repeat}")
                if gpu:  # new batch shapes: TensorRT profiles, CUDA graphs, buffers
                    models.frame(frame, det, latent)
                totals, laps = [], {}
                for _ in range(frame_repeat):
                    one: dict[str, float] = {}
                    t0 = time.perf_counter()
                    models.frame(frame, det, latent, one)
                    totals.append((time.perf_counter() - t0) * 1000.0)
                    for k, v in one.items():
                        laps[k] = laps.get(k, 0.0) + v
                key = f"{size}_{n}face"
                frame_ms = p50(totals)
                enhance = laps["enhance"] / frame_repeat
                result[f"frame_{key}_ms"] = round(frame_ms, 1)
                result[f"frame_{key}_fps"] = round(1000.0 / frame_ms, 2)
                # the same frames without the enhancer's share (its lap inside them): swap + mask
                result[f"frame_{key}_without_enhance_ms"] = round(frame_ms - enhance, 1)
                result[f"frame_{key}_stages_ms"] = {k: round(v / frame_repeat, 1) for k, v in laps.items()
                                                    if k != "faces"}
        result["frame_ms"] = result[f"frame_{sizes[0]}_1face_ms"]
        if not dedicated:  # the heavy stages' cost from the frames' laps (each ran once already)
            one, three = result[f"frame_{sizes[0]}_1face_stages_ms"], result[f"frame_{sizes[0]}_3face_stages_ms"]
            for name in ("swap", "enhance", "parse"):
                result[f"{name}_ms"] = one[name]
            result["swap3_batched_ms"] = three["swap"]
        result["swap3_batch_speedup"] = round(result["swap3_sequential_plain_ms"] / result["swap3_batched_ms"], 2)
        result["frame_repeats"] = frame_repeat
    result["providers"] = models.providers()
    result["provider_note"] = provider_note(provider, sorted(set(result["providers"].values())))
    result["models"] = {k: {"file": paths[k].name, **{f: info[names[k]][f] for f in ("params", "macs")}}
                        for k in names}
    result["stand_ins"] = ["face positions: random weights find no faces, so a stand-in's outputs (near-free) "
                           "go through the SCRFD decoder after the exact det_10g has run on the frame"]
    result["load_s"] = round(load_s, 1)
    result["gpu_memory"] = gpu_memory()
    result["onnxruntime"] = ort.__version__
    result["baseline"] = "swap3_sequential_plain: 3 faces one by one through Session.run (no batch, no IO binding)"
    return result


def run(args: argparse.Namespace) -> int:
    import sys

    from tqdm import tqdm

    t0 = time.perf_counter()
    # steps: load, warm-up, stages, baseline, then one per frame size and face count
    bar = tqdm(total=4 + len(args.sizes) * len(FACE_COUNTS), desc="bench neural", unit="step", file=sys.stderr,
               disable=None)
    started = 0

    def progress(msg: str) -> None:
        nonlocal started
        if started:
            bar.update(1)  # the previous step is done
        started += 1
        bar.set_postfix_str(msg)

    try:
        res = measure(args.provider, fp16=args.fp16, repeat=args.repeat, frame_repeat=args.frame_repeat,
                      sizes=args.sizes, io_binding=not args.no_io_binding, cuda_graph=args.cuda_graph,
                      progress=progress)
        bar.update(1)
    finally:
        bar.close()
    res["bench_s"] = round(time.perf_counter() - t0, 1)
    flat = {k: v for k, v in res.items() if not isinstance(v, dict | list)} if not args.json else res
    report(flat, as_json=args.json, title="neural path on architecture-exact random-weight models, p50 ms")
    if not args.json:
        print(f"  providers: {res['providers']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "neural", help="real cost of the neural path (architecture-exact models)",
        description="Time the neural face path per stage (detect, embed, swap, enhance, parse, paste) and per "
                    "frame at 1280x720 and 1920x1080 with 1 and 3 faces, on random-weight models with the real "
                    "architectures (inswapper-class swapper, GFPGAN 1.4, BiSeNet ResNet-34, ArcFace r50, SCRFD "
                    "det_10g; built "
                    "once with torch, the 'train' extra, into the user cache). On a CPU a face costs seconds: "
                    "the default there runs each heavy model once per frame after one warm-up frame, and takes the per-stage figures from the frames' laps (--repeat N times them separately).")
    parser.add_argument("--provider", choices=("cpu", "cuda", "tensorrt"), default="cpu",
                        help="ONNX Runtime provider to run on (default: cpu); the JSON says which really ran")
    parser.add_argument("--fp16", action="store_true", help="run half-precision variants (GPU)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed runs per heavy stage (default: 20 on a GPU; on the CPU the frames' laps, once)")
    parser.add_argument("--frame-repeat", type=int, default=None,
                        help="timed frames per size and face count (default: 1 on cpu, 10 on a GPU)")
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=list(SIZES),
                        help="frame sizes (default: 720p 1080p)")
    parser.add_argument("--no-io-binding", action="store_true", help="plain Session.run instead of IO binding")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="record CUDA graphs (CUDA provider; every node must run on the GPU)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)
