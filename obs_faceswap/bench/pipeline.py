"""``obs-faceswap bench pipeline``: the embedded (no download) face swap, stage by stage, at 720p.

One 1280x720 frame with one face (the astronaut scaled to 720 px high, mesh box ~130 px), a source
face from insightface's group photo (the astronaut mirrored when insightface is absent). Rows:

  detect_ms            full detection: BlazeFace (whole frame + tiles) + 2 mesh passes
  landmarks_ms         mesh only on the previous face's crop (what tracking runs per frame)
  tracked_detect_ms    TrackedDetector(detect_every=3, smoothing=0.5), mean per frame
  swap_step_ms         ClassicalSwapper's swap step (shape transfer, warp, surroundings morph, mesh
                       masks), per face; morph_ms: the surroundings morph alone, p50
  color_ms, paste_ms   the merge stage: colour/light/detail matching, blend and ROI paste
  swap_ms              the whole swap (swap_all: swap step + merge) of the tracked face, p50
  total_ms, fps        tracked_detect + swap: the live per-frame cost (all masks off: the defaults)
  *_cpu_ms             the same as process CPU time (all threads, mean over the repeats): steady
                       when other jobs share the CPU (tracked_detect, swap, total and the shape-0 baseline)
  baseline_shape0_swap_ms, baseline_shape0_total_ms   the same with shape_strength 0 (the swap before
                       shape transfer: source skin on the target's own face shape)
  --frame WxH, --face-px N   another frame size and face size (the face centred in the frame)
  mask_keep_mouth_ms   keep_mouth's exact lip mask in the face ROI (dense mesh, no model)
  mask_occlusion_roi_ms, mask_parser_roi_ms   occlusion_mask / mask_regions with the embedded
                       swapper (QualityStages.roi_mask: align, model, warp back; installed
                       models, else stand-ins: then it is the pre/post-processing cost alone)
  swap_keep_mouth_ms, swap_occlusion_ms   the whole swap with that mask on
  neural_swap_pb<128|256|512>_ms, dfm_swap_ms   the neural path with pixel boost and a DFM model
                       (``bench/neural_rows.py``; stand-ins where no model is installed)
  jitter_px_smoothing_<s>, jitter_ratio_smoothing_<s>   still-face landmark jitter (std over 30 noisy
                       frames, px) with TrackedDetector(detect_every=3) at smoothing 0 and s (the
                       default 0.5, and 0.7), and the ratio jitter(0) / jitter(s)
Baselines measured in the same run:
  baseline_warp_per_triangle_ms   the textbook warp: one warpAffine + mask per triangle
  baseline_seamless_swap_ms       the same swap merged through cv2.seamlessClone
  baseline_total_detect_every_frame_ms   full detection on every frame + swap

Other owners add rows with ``EXTRA_STAGES[name] = fn(frame, face)``; each is timed as
``<name>_ms`` on the same frame and face.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from obs_faceswap.bench import cpu_ms, p50, report, time_ms
from obs_faceswap.bench.photos import ASTRONAUT_KPS, astronaut_bgr, astronaut_frame
from obs_faceswap.vision.types import Face, Frame

if TYPE_CHECKING:
    from obs_faceswap.vision.embedded import EmbeddedDetector
    from obs_faceswap.vision.swappers.classical import ClassicalSource, ClassicalSwapper

FRAME_W, FRAME_H = 1280, 720
ASTRONAUT_FACE_PX = 93.0  # her face mesh's width in the 512 px photo
EXTRA_STAGES: dict[str, Callable[[Frame, Face], Any]] = {}


def bench_frame(size: tuple[int, int] | None = None, face_px: int | None = None) -> Frame:
    """The bench frame: by default the astronaut at 720 px in 1280x720 (face ~130 px); with ``face_px``
    the photo is scaled so her face mesh is about that wide and her face is centred in the frame."""
    w, h = size or (FRAME_W, FRAME_H)
    if face_px is None:
        return astronaut_frame(w, h, 720)[0]
    photo = astronaut_bgr()
    scale = face_px / ASTRONAUT_FACE_PX
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    frame = np.full((h, w, 3), 90, np.uint8)
    cx, cy = (ASTRONAUT_KPS[:, 0].mean() * scale, ASTRONAUT_KPS[:, 1].mean() * scale)
    ox, oy = int(round(w / 2 - cx)), int(round(h / 2 - cy))  # photo origin in the frame
    sx0, sy0, dx0, dy0 = max(0, -ox), max(0, -oy), max(0, ox), max(0, oy)
    cw, ch = min(big.shape[1] - sx0, w - dx0), min(big.shape[0] - sy0, h - dy0)
    frame[dy0:dy0 + ch, dx0:dx0 + cw] = big[sy0:sy0 + ch, sx0:sx0 + cw]
    return frame


def parse_frame(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); a clear error otherwise."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frame wants WIDTHxHEIGHT such as 1280x720, not {text!r}") from None
    if w < 64 or h < 64:
        raise argparse.ArgumentTypeError(f"--frame {text}: at least 64x64")
    return w, h


def source_photo() -> tuple[Frame, str]:
    try:
        import os

        import insightface

        img = cv2.imread(os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg"))
        if img is not None:
            return np.ascontiguousarray(img[250:450, 430:620]), "insightface t1.jpg (crop)"
    except ImportError:
        pass
    return np.ascontiguousarray(astronaut_bgr()[:, ::-1]), "astronaut mirrored"


def warp_per_triangle(source: Any, dst: np.ndarray, size: tuple[int, int]) -> Frame:
    """Baseline: the textbook piecewise-affine warp, one ``warpAffine`` + mask per triangle."""
    h, w = size
    out = np.zeros((h, w, 3), np.uint8)
    src_img = source.image
    for tri in source.triangles:
        s = source.points[tri].astype(np.float32)
        d = dst[tri].astype(np.float32)
        x, y, rw, rh = cv2.boundingRect(d)
        x, y = max(x, 0), max(y, 0)
        rw, rh = min(rw, w - x), min(rh, h - y)
        if rw <= 0 or rh <= 0:
            continue
        m = cv2.getAffineTransform(s, d - np.float32([x, y]))
        patch = cv2.warpAffine(src_img, m, (rw, rh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros((rh, rw), np.uint8)
        cv2.fillConvexPoly(mask, np.round((d - [x, y]) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        region = out[y:y + rh, x:x + rw]
        np.copyto(region, patch, where=mask[..., None].astype(bool))
    return out


def measure(repeat: int = 30, threads: int = 1, quality: bool = True, frame_size: tuple[int, int] | None = None,
            face_px: int | None = None) -> dict[str, Any]:
    from obs_faceswap.vision.embedded import EmbeddedDetector
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.swappers.classical import ClassicalSwapper
    from obs_faceswap.vision.swappers.classical.swapper import face_roi
    from obs_faceswap.vision.swappers.classical.warp import warp_source
    from obs_faceswap.vision.tracking import TrackedDetector

    frame = bench_frame(frame_size, face_px)
    photo, photo_name = source_photo()
    det = EmbeddedDetector(provider="cpu", threads=threads)
    swapper = ClassicalSwapper(detector=det)
    source = swapper.prepare_source([(photo_name, photo)]).value
    options = FaceOptions.from_settings({})
    faces = det.detect(frame)
    if len(faces) != 1:
        raise RuntimeError(f"bench frame: expected one face, found {len(faces)}")
    face = faces[0]
    out: dict[str, Any] = {"frame": f"{frame.shape[1]}x{frame.shape[0]}", "source": photo_name,
                           "face_px": int(face.bbox[2] - face.bbox[0]), "threads": threads,
                           "providers": ",".join(det.providers)}
    out["detect_ms"] = p50(time_ms(lambda: det.detect(frame), repeat=max(5, repeat // 3)))
    out["landmarks_ms"] = p50(time_ms(lambda: det.track(frame, faces), repeat=repeat))

    tracked = TrackedDetector(det, detect_every=3, smoothing=0.5)
    out["tracked_detect_ms"] = float(np.mean(time_ms(lambda: tracked.detect(frame), repeat=repeat, warmup=3)))
    face = tracked.detect(frame)[0]  # the swap rows swap the tracked face, as live does (its running neutral too)

    stages: dict[str, float] = {}
    swap_samples = time_ms(lambda: swap_all(frame, [face], swapper, source, options, stats=stages), repeat=repeat)
    n = repeat + 5  # time_ms's warm-up runs are counted in the stage sums too
    # the swap step (warp and the mesh masks), then the merge stage's colour and paste
    for key, stat in (("swap_step", "swap_ms"), ("color", "color_ms"), ("paste", "paste_ms")):
        out[f"{key}_ms"] = stages.get(stat, 0.0) / n
    out["swap_ms"] = p50(swap_samples)
    out["total_ms"] = out["tracked_detect_ms"] + out["swap_ms"]
    out["fps"] = 1000.0 / out["total_ms"]

    x0, y0, x1, y1 = face_roi(face.landmarks, frame.shape)  # type: ignore[arg-type,misc]
    local = face.landmarks - np.float32([x0, y0])  # type: ignore[operator]
    size = (y1 - y0, x1 - x0)
    out["morph_ms"] = p50(time_ms(lambda: _morph(frame, face, source, options), repeat=repeat))
    out["ours_warp_remap_ms"] = p50(time_ms(lambda: warp_source(source, local, size), repeat=repeat))
    out["baseline_warp_per_triangle_ms"] = p50(time_ms(lambda: warp_per_triangle(source, local, size),
                                                       repeat=max(5, repeat // 3)))
    out["baseline_seamless_swap_ms"] = p50(time_ms(lambda: swap_all(frame, [face], swapper, source, options,
                                                                    seamless=True), repeat=max(5, repeat // 3)))
    out["baseline_total_detect_every_frame_ms"] = out["detect_ms"] + out["swap_ms"]
    # the swap as it was before shape transfer (source skin on the target's own face shape)
    flat = options.with_changes({"shape_strength": 0})
    out["baseline_shape0_swap_ms"] = p50(time_ms(lambda: swap_all(frame, [face], swapper, source, flat),
                                                 repeat=repeat))
    out["baseline_shape0_total_ms"] = out["tracked_detect_ms"] + out["baseline_shape0_swap_ms"]
    # CPU time: what the wall-clock figures cost when the machine is not shared
    out["tracked_detect_cpu_ms"] = cpu_ms(lambda: tracked.detect(frame), repeat=repeat)
    out["swap_cpu_ms"] = cpu_ms(lambda: swap_all(frame, [face], swapper, source, options), repeat=repeat)
    out["total_cpu_ms"] = out["tracked_detect_cpu_ms"] + out["swap_cpu_ms"]
    out["baseline_shape0_swap_cpu_ms"] = cpu_ms(lambda: swap_all(frame, [face], swapper, source, flat), repeat=repeat)
    out["baseline_shape0_total_cpu_ms"] = out["tracked_detect_cpu_ms"] + out["baseline_shape0_swap_cpu_ms"]
    out.update(measure_masks(frame, face, source, swapper, repeat=max(5, repeat // 3)))
    out.update(measure_jitter(frame, det))
    for name, fn in EXTRA_STAGES.items():
        out[f"{name}_ms"] = p50(time_ms(lambda fn=fn: fn(frame, face), repeat=max(5, repeat // 3)))  # type: ignore[misc]
    if quality:
        from obs_faceswap.bench.quality import bench_stages

        # the quality stages of the neural path (enhancer, masks, every colour method), installed
        # models where present, else stand-ins of the real signatures (pre/post-processing cost)
        for name, ms in bench_stages(frame, face, repeat=max(3, repeat // 6)).items():
            out[f"{name}_ms"] = ms
        from obs_faceswap.bench.neural_rows import neural_rows

        # the neural swap path: pixel boost 128 (baseline) / 256 / 512 and a DeepFaceLive model
        out.update(neural_rows(frame, face, repeat=max(3, repeat // 6)))
    return out


def _morph(frame: Frame, face: Face, source: Any, options: Any) -> Frame:
    """The surroundings morph alone, as the swap step runs it for ``face``."""
    from obs_faceswap.vision.surroundings import morph_surroundings, surround_margin
    from obs_faceswap.vision.swappers.classical.swapper import face_roi, target_shape

    pts = face.landmarks
    new = target_shape(pts, face.extra.get("mesh_z"), source, options.shape_strength)  # type: ignore[arg-type]
    x0, y0, x1, y1 = face_roi(np.concatenate([pts, new]), frame.shape, surround_margin(pts, new))  # type: ignore[arg-type,misc]
    return morph_surroundings(frame[y0:y1, x0:x1], pts - np.float32([x0, y0]), new - np.float32([x0, y0]))  # type: ignore[operator]


def measure_masks(frame: Frame, face: Face, source: ClassicalSource, swapper: ClassicalSwapper, *,
                  repeat: int) -> dict[str, float]:
    """Cost of the masks with the embedded swapper: each mask alone, and the swap with it on."""
    import tempfile

    from obs_faceswap.models.registry import is_installed
    from obs_faceswap.models.standins.quality import all_models
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.quality import QualityStages
    from obs_faceswap.vision.swappers.classical.masks import mouth_keep
    from obs_faceswap.vision.swappers.classical.swapper import face_roi

    out: dict[str, float] = {}
    roi = face_roi(face.landmarks, frame.shape)  # type: ignore[arg-type]
    assert roi is not None
    x0, y0, x1, y1 = roi
    local = face.landmarks - np.float32([x0, y0])  # type: ignore[operator]
    out["mask_keep_mouth_ms"] = p50(time_ms(lambda: mouth_keep(local, (y1 - y0, x1 - x0)), repeat=repeat))
    keep_mouth = FaceOptions.from_settings({"keep_mouth": True})
    out["swap_keep_mouth_ms"] = p50(time_ms(lambda: swap_all(frame, [face], swapper, source, keep_mouth),
                                            repeat=repeat))
    with tempfile.TemporaryDirectory(prefix="obs-faceswap-bench-") as tmp:
        models: dict[str, Any] = {}
        standins: dict[str, Path] = {}
        for mid in ("bisenet", "xseg"):
            try:
                installed = bool(is_installed(mid))
            except Exception:  # no manifest entry: use the stand-in
                installed = False
            if not installed:
                standins = standins or all_models(Path(tmp))
                models[mid] = standins[mid]
        for name, settings in (("occlusion", {"occlusion_mask": True}), ("parser", {"mask_regions": "face"})):
            stages = QualityStages.from_settings(settings, "cpu", models=models)
            out[f"mask_{name}_roi_ms"] = p50(time_ms(lambda st=stages: st.roi_mask(frame, face, roi),  # type: ignore[misc]
                                                     repeat=repeat, warmup=1))
            if name == "occlusion":
                options = FaceOptions.from_settings(settings)
                out["swap_occlusion_ms"] = p50(time_ms(
                    lambda st=stages, o=options: swap_all(frame, [face], swapper, source, o, stages=st),  # type: ignore[misc]
                    repeat=repeat, warmup=1))
    return out


def measure_jitter(frame: Frame, det: EmbeddedDetector, frames: int = 30) -> dict[str, float]:
    """Still-face landmark jitter (px, std over ``frames`` noisy copies of ``frame``) with tracking at
    smoothing 0 and the ratio to smoothing 0.5 (the default) and 0.7 (what the tracking test uses)."""
    from obs_faceswap.vision.tracking import TrackedDetector

    rng = np.random.default_rng(0)
    noisy = [np.clip(frame + np.float32(4) * rng.standard_normal(frame.shape, np.float32), 0, 255).astype(np.uint8)
             for _ in range(frames)]
    jitter: dict[float, float] = {}
    for smoothing in (0.0, 0.5, 0.7):
        tracked = TrackedDetector(det, detect_every=3, smoothing=smoothing)
        lm = np.stack([tracked.detect(f)[0].landmarks for f in noisy])
        jitter[smoothing] = float(lm[5:].std(0).mean())
    out = {"jitter_px_smoothing_0": jitter[0.0]}
    for smoothing in (0.5, 0.7):
        tag = f"{round(smoothing * 100)}"
        out[f"jitter_px_smoothing_{tag}"] = jitter[smoothing]
        out[f"jitter_ratio_smoothing_{tag}"] = jitter[0.0] / max(jitter[smoothing], 1e-9)
    return out


def _run(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    result = measure(repeat=args.repeat, threads=args.threads, quality=not args.no_quality, frame_size=args.frame,
                     face_px=args.face_px)
    report(result, as_json=args.json, title=f"embedded face swap pipeline, one {result['frame']} frame, one face "
           "(ms, p50 unless noted; baselines measured in the same run)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "pipeline", help="per-stage ms of the embedded (no download) swap at 720p",
        description="Time the embedded (no download) face swap stage by stage on one 1280x720 frame with one "
                    "face:\n"
                    "  - detection, landmarks and tracked detection (what live mode runs per frame)\n"
                    "  - the classical swap stages (warp, mask, colour, blend) and their total, as fps\n"
                    "  - the optional masks and quality stages (skip them with --no-quality)\n"
                    "  - landmark jitter of a still face with and without smoothing\n"
                    "beside baselines measured in the same run: a per-triangle warp, OpenCV's seamlessClone,\n"
                    "and full detection on every frame.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--repeat", type=int, default=30, help="timed runs per row (default: 30)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model (default: 1)")
    p.add_argument("--frame", type=parse_frame, default=None, metavar="WxH",
                   help="frame size, e.g. 1920x1080 (default: 1280x720)")
    p.add_argument("--face-px", type=int, default=None, metavar="N",
                   help="scale the photo so the face is about N px wide, centred (default: ~130 px, a webcam "
                        "at a distance; 300 is a webcam at arm's length at 720p)")
    p.add_argument("--no-quality", action="store_true",
                   help="skip the quality-stage rows (colour methods, masks, enhancers)")
    p.set_defaults(func=_run)
