"""``obs-faceswap bench video``: swap-video's frames per second on a 720p clip, on one core,
on every core and on a local Ray cluster.

One clip, made with ffmpeg: the astronaut frame of ``bench pipeline`` (1280x720, one face) moving
slowly, 24 fps, a keyframe every second, AAC audio; the embedded swapper (no download). Keys:

  baseline_frame_at_a_time_fps   the swap-video before the batched pipeline: one process, one frame
                                 at a time through FacePipeline.process (media.transform_video)
  jobs1_fps, jobs2_fps           the batched pipeline with --jobs 1 and --jobs 2
  ray_fps                        the same on a private local Ray cluster with 2 CPUs (two actors)
  jobs2_speedup                  jobs2_fps / jobs1_fps (goal on 2 cores: >= 1.7)
  ray_vs_jobs2                   ray_fps / jobs2_fps (goal: >= 0.85)
  jobs1_python_ms_per_frame, jobs1_cpu_ms_per_frame   CPU time per frame of --jobs 1: in Python (the
                                 swap) and in all (+ ffmpeg decoding and encoding beside it); their
                                 ratio is what --jobs 2 can gain on 2 free cores at most, since
                                 --jobs 1 already overlaps ffmpeg with Python
  machine_speedup_2proc          the control: what two processes of a pure-Python loop gain over one,
                                 measured in the same run; about 2.0 on a free 2-core machine, lower
                                 when others use the cores (then no parallel figure above can be higher)

Each figure is frames / wall time of the whole file (decode, swap, encode, join, audio), with the
models already loaded (a short warm-up file first); with ``--rounds N`` the best of N.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from obs_faceswap.bench import report
from obs_faceswap.bench.pipeline import bench_frame, source_photo

FPS = 24


def make_clip(folder: Path, seconds: float) -> Path:
    """The 720p bench clip: ``bench pipeline``'s frame panned slowly, keyframe every second, audio."""
    still = folder / "frame.png"
    cv2.imwrite(str(still), bench_frame())
    out = folder / f"clip_{seconds:g}s.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(still),
                    "-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}", "-t", str(seconds),
                    "-vf", "pad=1360:780:40:30,crop=1280:720:x='40+30*sin(t*1.5)':y='30+20*sin(t*2)'",
                    "-r", str(FPS), "-c:v", "libx264", "-preset", "veryfast", "-g", str(FPS), "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(out)], check=True)
    return out


def _cpu() -> tuple[float, float]:
    """(CPU seconds of this process, of it and its finished children)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    own = me.ru_utime + me.ru_stime
    return own, own + kids.ru_utime + kids.ru_stime


def _spin(n: int) -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t0


def machine_speedup(n: int = 4_000_000) -> float:
    """Two units of pure-Python work: one process doing both vs two processes one each (started before
    the clock). What any --jobs 2 speed-up is bounded by right now."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # both started and ready
        t0 = time.perf_counter()
        _spin(n)
        _spin(n)
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        two = time.perf_counter() - t0
    return one / two


def _best_fps(frames: int, rounds: int, fn: Callable[[], None]) -> float:
    best = 0.0
    for _ in range(max(1, rounds)):
        t0 = time.perf_counter()
        fn()
        best = max(best, frames / (time.perf_counter() - t0))
    return best


def run(args: argparse.Namespace) -> int:
    from obs_faceswap.media import probe_video, transform_video
    from obs_faceswap.video.codec import EncodeOptions
    from obs_faceswap.video.job import swap_video_file
    from obs_faceswap.video.local import LocalRunner
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.pipeline import FacePipeline

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="obs-faceswap-bench-video-") as tmp:
        folder = Path(tmp)
        clip, warm = make_clip(folder, args.seconds), make_clip(folder, 1.0)
        photo = folder / "source.png"
        cv2.imwrite(str(photo), source_photo()[0])
        options = FaceOptions.from_settings({"source_image": str(photo)})
        frames = probe_video(clip).frames
        result.update(clip=f"1280x720 {FPS} fps, {frames} frames, one face", cores=os.cpu_count() or 0)
        opts = EncodeOptions()

        def batched(runner: Any, name: str) -> float:
            swap_video_file(warm, folder / f"warm_{name}.mp4", runner, opts, progress=False)
            return _best_fps(frames, args.rounds, lambda: swap_video_file(
                clip, folder / f"{name}.mp4", runner, opts, progress=False))

        pipeline = FacePipeline(options)
        transform_video(warm, folder / "warm_base.mp4", pipeline.process, progress=False)
        result["baseline_frame_at_a_time_fps"] = _best_fps(frames, args.rounds, lambda: transform_video(
            clip, folder / "base.mp4", pipeline.process, progress=False))
        for jobs in (1, 2):
            runner = LocalRunner(options, jobs=jobs)
            try:
                before = _cpu()
                result[f"jobs{jobs}_fps"] = batched(runner, f"jobs{jobs}")
                if jobs == 1:  # all of it ran in this process and its ffmpeg children
                    (py0, all0), (py1, all1) = before, _cpu()
                    runs = max(1, args.rounds) * frames + probe_video(warm).frames
                    result["jobs1_python_ms_per_frame"] = 1000 * (py1 - py0) / runs
                    result["jobs1_cpu_ms_per_frame"] = 1000 * (all1 - all0) / runs
            finally:
                runner.close()
        if not args.no_ray:
            result["ray_fps"] = _ray_fps(options, batched)
        result["jobs2_speedup"] = result["jobs2_fps"] / result["jobs1_fps"]
        if "ray_fps" in result and isinstance(result["ray_fps"], float):
            result["ray_vs_jobs2"] = result["ray_fps"] / result["jobs2_fps"]
        result["machine_speedup_2proc"] = machine_speedup()
        result["load_average_1min"] = os.getloadavg()[0]  # a busy machine (other users) lowers every figure
    report(result, as_json=args.json, title="swap-video throughput, frames/s (higher is better)")
    return 0


def _ray_fps(options: Any, batched: Callable[[Any, str], float]) -> float | str:
    try:
        import ray
    except ImportError:
        return "ray not installed"
    from obs_faceswap.video.ray_runner import RayRunner

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        runner = RayRunner(options, actors=2)
        try:
            return batched(runner, "ray")
        finally:
            runner.close()
    finally:
        ray.shutdown()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("video", help="swap-video frames/s: one frame at a time, --jobs 1, --jobs 2, Ray",
                            description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the 720p clip (default: 8)")
    parser.add_argument("--rounds", type=int, default=1, help="timed runs of each way; the best counts (default: 1)")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray cluster")
    parser.set_defaults(func=run)
