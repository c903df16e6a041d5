"""``obs-faceswap bench obs``: what the Face Swap filters cost OBS itself, measured by OBS: its own
frame render time and skipped frames (obs-websocket ``GetStats``) with no filter, the Face Swap
filter and the Face Swap (camera) filter, same run, and how long a blend change takes to show. Runs
a headless OBS: needs obs-studio, Xvfb and ffmpeg installed.

A real OBS Studio (headless: Xvfb, software OpenGL, obs-websocket 5) per canvas size, one scene
with an image source (the shipped astronaut photo scaled and padded to the canvas) and a media
source looping a short H.264 clip of the same picture. Both filters are added and swap the face
(the source face is the astronaut mirrored in grey, colour matching off, so a swap is plain to
see); then ``--rounds`` rounds switch between no filter (the baseline), the render-path "Face
Swap" filter on the image source and the async "Face Swap (camera)" filter on the media source
(switched in OBS, as the eye icon does), each variant first, middle and last in turn, so all three
see the same load. Each block waits ``--warmup`` seconds after the switch, then reads OBS's own
average frame render time (``GetStats`` ``averageFrameRenderTime``, a per-second average) once a
second and counts its render-skipped frames; ``--window`` seconds per variant in all.
``added_ms_*`` is the median over the rounds of a filter's block less the same round's baseline
block. With ``--transport-only`` the worker sends every frame back unchanged: what the filters
cost inside OBS (read-back, copies, upload) without the swap's CPU use beside it.

Slider latency (on the first canvas): the time from ``SetSourceFilterSettings`` blend 100 -> 0
until a screenshot of the source shows the original face again, less the time a screenshot takes
on an unchanged frame (``slider_latency_max_ms``: without that subtraction, an upper bound); with
the worker's frame rate (from the filter's status line) it gives about how many frames the worker
processed in between.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from obs_faceswap.bench import report
from obs_faceswap.errors import FaceSwapError

RENDER_KIND, ASYNC_KIND = "obs_faceswap_video", "obs_faceswap_video_async"
IMAGE, CLIP = "Face", "Clip"
RENDER_FILTER, ASYNC_FILTER = "Face Swap", "Face Swap (camera)"
SWAPPED = 0.2  # share of the face box's pixels changed by the grey swap (measured: ~0.5)
UNSWAPPED = 0.02  # ... and by the original face (blend 0)
NOOP_ENV = "OBS_FACESWAP_TEST_PROCESSOR"  # the worker's processor override (worker/processors.py)
SHOT_WIDTH = 480  # the slider's screenshots, scaled down by OBS
STATUS = re.compile(r"([\d.]+) fps, ([\d.]+) ms/frame")


def size_tag(width: int, height: int) -> str:
    """'720p' for 1280x720, '1080p' for 1920x1080; else 'WxH'."""
    return f"{height}p" if width * 9 == height * 16 else f"{width}x{height}"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)x(\d+)\s*", part)
        if not m or not (64 <= int(m[1]) <= 7680 and 64 <= int(m[2]) <= 4320):
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a canvas size WxH (64..7680 x 64..4320)")
        out.append((int(m[1]), int(m[2])))
    return out


def check_tools() -> None:
    """Raise ``FaceSwapError`` (one line) saying what to install when OBS cannot be run here."""
    from obs_faceswap.bench.obs_host import SCRIPT, missing_programs

    missing = missing_programs("ffmpeg")
    if missing:
        raise FaceSwapError(f"bench obs runs a headless OBS Studio and needs {', '.join(missing)} installed "
                            "(Debian/Ubuntu: sudo apt-get install obs-studio xvfb ffmpeg)")
    try:
        import obsws_python  # noqa: F401
    except ImportError:
        raise FaceSwapError("bench obs talks to OBS through obsws-python, which is not installed here: "
                            f"'{sys.executable}' -m pip install obsws-python") from None
    if not SCRIPT.is_file():
        raise FaceSwapError(f"bench obs loads the OBS script {SCRIPT}, which is not there: run it from a "
                            "checkout of obs-faceswap (pip install -e .)")


# ------------------------------------------------------------------------------------------ media


def grey_source(work: Path) -> Path:
    """The source face: the astronaut mirrored, in grey (another picture of a face, plain to see)."""
    from obs_faceswap.bench.photos import astronaut_bgr

    grey = cv2.cvtColor(np.ascontiguousarray(astronaut_bgr()[:, ::-1]), cv2.COLOR_BGR2GRAY)
    path = work / "source_face.png"
    cv2.imwrite(str(path), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    return path


def canvas_media(work: Path, width: int, height: int) -> tuple[Path, Path, tuple[int, int, int, int]]:
    """(a PNG of the canvas size: the astronaut scaled to the canvas height, padded; a 2 s looping
    H.264 clip of it at 30 fps; her face box in canvas pixels)."""
    from obs_faceswap.bench.photos import astronaut_frame

    frame, kps = astronaut_frame(width, height, height)
    image = work / f"face_{width}x{height}.png"
    clip = work / f"face_{width}x{height}.mp4"
    cv2.imwrite(str(image), frame)
    res = subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "30", "-i", str(image),
                          "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                          "-g", "30", str(clip)], capture_output=True, text=True)
    if res.returncode != 0:
        raise FaceSwapError(f"ffmpeg could not make the test clip: {res.stderr.strip()[-300:]}")
    (x0, y0), (x1, y1) = kps.min(axis=0), kps.max(axis=0)
    pad = 0.6 * (x1 - x0)
    box = (int(max(0, x0 - pad)), int(max(0, y0 - pad)), int(min(width, x1 + pad)), int(min(height, y1 + pad)))
    return image, clip, box


def changed_share(shot: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Share of the face box's pixels that differ from ``original`` by more than 10 levels."""
    x0, y0, x1, y1 = box
    if shot.shape != original.shape:
        return 0.0
    d = np.abs(shot[y0:y1, x0:x1].astype(np.int16) - original[y0:y1, x0:x1]).max(axis=2)
    return float((d > 10).mean())


# ------------------------------------------------------------------------------------------ OBS side


def wait_until(predicate: Callable[[], Any], timeout: float, what: Callable[[], str], interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got is not None and got is not False:
            return got
        time.sleep(interval)
    raise FaceSwapError(f"bench obs: {what()} (within {timeout:.0f} s)")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its finished children so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def measure_window(obs: Any, seconds: float) -> dict[str, float]:
    """OBS's render figures over ``seconds``: the mean of its per-second average frame render time
    (read about once a second), the frames it rendered and skipped, and its CPU use in percent."""
    first = obs.call("GetStats")
    cpu0, t0 = _cpu_s(obs.obs.pid), time.monotonic()
    renders: list[float] = []
    while (left := seconds - (time.monotonic() - t0)) > 0:
        time.sleep(min(1.0, left))
        renders.append(float(obs.call("GetStats")["averageFrameRenderTime"]))
    last = obs.call("GetStats")
    elapsed = time.monotonic() - t0
    return {"render_ms": round(statistics.fmean(renders), 2),
            "skipped": int(last["renderSkippedFrames"]) - int(first["renderSkippedFrames"]),
            "frames": int(last["renderTotalFrames"]) - int(first["renderTotalFrames"]),
            "obs_cpu_pct": round(100.0 * (_cpu_s(obs.obs.pid) - cpu0) / elapsed, 1)}


def worker_rate(obs: Any, source: str, name: str, wait: float = 3.0) -> tuple[float, float]:
    """(frames per second, ms per frame) of the filter's worker channel, from its status line (the
    filter refreshes it about once a second: up to ``wait`` seconds for one with a frame rate)."""
    deadline = time.monotonic() + wait
    while True:
        m = STATUS.search(str(obs.filter_settings(source, name).get("status", "")))
        if (m and float(m[1]) > 0) or time.monotonic() >= deadline:
            return (float(m[1]), float(m[2])) if m else (0.0, 0.0)
        time.sleep(0.25)


def wait_swapped(obs: Any, source: str, name: str, original: np.ndarray | None, box: tuple[int, int, int, int],
                 timeout: float = 180.0) -> None:
    """Until the filter's output shows the swapped face (``original`` None: the transport-only worker
    changes nothing, so only its frame rate is waited for)."""

    def swapped() -> bool:
        if original is None:
            return True
        try:
            return changed_share(obs.screenshot(source), original, box) > SWAPPED
        except Exception:  # noqa: BLE001  (a media source between frames: "Failed to render screenshot")
            return False

    wait_until(swapped, timeout, lambda: f"the {name!r} filter never swapped the face; its status: "
               f"{obs.filter_settings(source, name).get('status')!r}")
    # and the worker's steady rate shows in the status line (refreshed about once a second)
    wait_until(lambda: worker_rate(obs, source, name, wait=0.0)[0] > 0, 30,
               lambda: f"no frame rate in the {name!r} status")


def slider_latency(obs: Any, box: tuple[int, int, int, int], width: int, tries: int,
                   swap: dict[str, Any]) -> dict[str, Any]:
    """Blend 100 -> 0 on the render-path filter until a screenshot shows the original face, less the
    screenshot's own time (median of three on the unchanged, swapped frame); ``tries`` times.
    Screenshots are scaled by OBS to ``SHOT_WIDTH`` (quicker to take: a finer clock)."""
    scale = SHOT_WIDTH / width
    small = (int(box[0] * scale), int(box[1] * scale), int(np.ceil(box[2] * scale)), int(np.ceil(box[3] * scale)))

    def shot() -> np.ndarray:
        return obs.screenshot(IMAGE, width=SHOT_WIDTH)

    obs.set_filter_enabled(IMAGE, RENDER_FILTER, False)
    original = shot()
    obs.set_filter_enabled(IMAGE, RENDER_FILTER, True)
    latencies, uppers, frames, shots = [], [], [], []
    for _ in range(tries):
        obs.set_filter_settings(IMAGE, RENDER_FILTER, {**swap, "blend": 100})
        wait_until(lambda: changed_share(shot(), original, small) > SWAPPED, 60,
                   lambda: "blend 100 did not bring the swap back")
        durations = []
        for _ in range(3):
            t = time.monotonic()
            shot()
            durations.append(time.monotonic() - t)
        shot_s = statistics.median(durations)
        fps = worker_rate(obs, IMAGE, RENDER_FILTER)[0]
        t0 = time.monotonic()
        obs.set_filter_settings(IMAGE, RENDER_FILTER, {"blend": 0})
        seen = wait_until(lambda: changed_share(shot(), original, small) < UNSWAPPED and time.monotonic(),
                          30, lambda: "blend 0 never showed the original face", interval=0.0)
        latency_s = max(0.0, seen - t0 - shot_s)
        latencies.append(1000.0 * latency_s)
        uppers.append(1000.0 * (seen - t0))
        frames.append(fps * latency_s)
        shots.append(1000.0 * shot_s)
    obs.set_filter_settings(IMAGE, RENDER_FILTER, {**swap, "blend": 100})
    return {"slider_latency_ms": round(statistics.median(latencies), 1),
            "slider_latency_all_ms": [round(x, 1) for x in latencies],
            # the screenshot that showed it had come back by then: the latency is at most this
            "slider_latency_max_ms": round(statistics.median(uppers), 1),
            "slider_frames_between": round(statistics.median(frames), 1),
            "slider_screenshot_ms": round(statistics.median(shots), 1)}


def run_canvas(work: Path, width: int, height: int, *, python: str, window: float, warmup: float, rounds: int,
               slider_tries: int, step: Callable[[str], None], transport_only: bool = False) -> dict[str, Any]:
    """Every row for one canvas size, from one OBS."""
    from obs_faceswap.bench.obs_host import HeadlessObs

    tag = size_tag(width, height)
    image, clip, box = canvas_media(work, width, height)
    swap = {"source_image": str(grey_source(work)), "swapper": "embedded", "blend": 100, "color_method": "none"}
    cfg = work / "obs-faceswap.json"
    cfg.write_text(json.dumps({"python": python}))
    home = work / f"obs_{tag}"
    home.mkdir()
    sources = [{"id": "image_source", "name": IMAGE, "settings": {"file": str(image)}},
               {"id": "ffmpeg_source", "name": CLIP,
                "settings": {"local_file": str(clip), "looping": True, "is_local_file": True}}]
    out: dict[str, Any] = {}
    step(f"{tag}: starting OBS")
    env = {"OBS_FACESWAP_CONFIG": str(cfg), "XDG_DATA_HOME": str(home / "data")}
    if transport_only:
        env[NOOP_ENV] = "noop"
    obs = HeadlessObs(home, sources, env, canvas=(width, height))
    try:
        try:
            obs.start()
        except RuntimeError as exc:
            raise FaceSwapError(f"bench obs: OBS did not start: {str(exc).splitlines()[0]}") from None
        original = obs.screenshot(IMAGE)

        def playing() -> np.ndarray | None:
            try:
                shot = obs.screenshot(CLIP)
            except Exception:  # noqa: BLE001  (no frame decoded yet)
                return None
            return shot if shot.mean() > 20 else None

        clip_original = wait_until(playing, 60, lambda: "the H.264 clip never played in OBS")
        step(f"{tag}: the filters start swapping")
        obs.add_filter(IMAGE, RENDER_FILTER, RENDER_KIND, swap)
        wait_swapped(obs, IMAGE, RENDER_FILTER, None if transport_only else original, box)
        if slider_tries > 0 and not transport_only:
            step(f"{tag}: slider latency")
            out.update(slider_latency(obs, box, width, slider_tries, swap))
            out["slider_canvas"] = f"{width}x{height}"
        obs.set_filter_enabled(IMAGE, RENDER_FILTER, False)
        obs.add_filter(CLIP, ASYNC_FILTER, ASYNC_KIND, swap)
        wait_swapped(obs, CLIP, ASYNC_FILTER, None if transport_only else clip_original, box)
        obs.set_filter_enabled(CLIP, ASYNC_FILTER, False)

        switches = {"baseline": (), "filter": ((IMAGE, RENDER_FILTER),), "async": ((CLIP, ASYNC_FILTER),)}
        blocks: dict[str, list[dict[str, float]]] = {v: [] for v in switches}
        rates: dict[str, list[tuple[float, float]]] = {"filter": [], "async": []}
        for r in range(rounds):
            step(f"{tag}: round {r + 1} of {rounds}")
            order = list(switches)[r % 3:] + list(switches)[:r % 3]  # each variant first, middle, last in turn
            for variant in order:
                for source, name in ((IMAGE, RENDER_FILTER), (CLIP, ASYNC_FILTER)):
                    obs.set_filter_enabled(source, name, (source, name) in switches[variant])
                time.sleep(warmup)
                blocks[variant].append(measure_window(obs, window / rounds))
                if variant != "baseline":
                    rates[variant].append(worker_rate(obs, *switches[variant][0]))
        for variant, got in blocks.items():
            out[f"render_ms_{variant}_{tag}"] = round(statistics.fmean(b["render_ms"] for b in got), 2)
            out[f"skipped_{variant}_{tag}"] = sum(int(b["skipped"]) for b in got)
            out[f"frames_{variant}_{tag}"] = sum(int(b["frames"]) for b in got)
            out[f"obs_cpu_pct_{variant}_{tag}"] = round(statistics.fmean(b["obs_cpu_pct"] for b in got), 1)
        for variant in ("filter", "async"):
            # the same round's baseline block saw about the same load: the median of the paired differences
            out[f"added_ms_{variant}_{tag}"] = round(statistics.median(
                b["render_ms"] - a["render_ms"] for a, b in zip(blocks["baseline"], blocks[variant], strict=True)), 2)
            out[f"worker_fps_{variant}_{tag}"] = round(statistics.fmean(x[0] for x in rates[variant]), 1)
            out[f"worker_ms_{variant}_{tag}"] = round(statistics.fmean(x[1] for x in rates[variant]), 1)
    finally:
        obs.stop()
    return out


def run(sizes: list[tuple[int, int]], *, python: str | None = None, window: float = 10.0, warmup: float = 1.5,
        rounds: int = 5, slider_tries: int = 3, progress: bool = True, transport_only: bool = False) -> dict[str, Any]:
    from tqdm import tqdm

    check_tools()
    if transport_only:
        slider_tries = 0
    result: dict[str, Any] = {"worker": "noop (transport only)" if transport_only else "face (embedded swap)",
                              "window_s": window, "rounds": rounds, "warmup_s": warmup,
                              "load_average_start": round(os.getloadavg()[0], 2)}
    bar = tqdm(total=len(sizes) * (2 + rounds) + (1 if slider_tries > 0 else 0), desc="bench obs",
               unit="step", disable=not progress, file=sys.stderr)

    def step(text: str) -> None:
        bar.set_postfix_str(text)
        bar.update(1)

    try:
        with tempfile.TemporaryDirectory(prefix="obs-faceswap-bench-obs-") as tmp:
            for i, (width, height) in enumerate(sizes):
                work = Path(tmp) / f"{width}x{height}"
                work.mkdir()
                result.update(run_canvas(work, width, height, python=python or sys.executable, window=window,
                                         warmup=warmup, rounds=rounds, slider_tries=slider_tries if i == 0 else 0, step=step,
                                         transport_only=transport_only))
    finally:
        bar.close()
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    return result


def _main(args: argparse.Namespace) -> int:
    if args.window <= 0 or args.warmup < 0 or args.slider_tries < 0 or args.rounds < 1:
        raise FaceSwapError("bench obs: --window must be above 0, --rounds 1 or more, --warmup and "
                            "--slider-tries 0 or more")
    result = run(args.sizes, python=args.python, window=args.window, warmup=args.warmup, rounds=args.rounds,
                 slider_tries=args.slider_tries, progress=not args.quiet, transport_only=args.transport_only)
    report(result, as_json=args.json, title="bench obs: OBS's own frame render time and skipped frames "
                                            "(baseline = no filter, same OBS, same run)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("obs", help="what the Face Swap filters cost OBS itself (headless OBS, GetStats)",
                       description=__doc__)
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1280x720,1920x1080"),
                   help="canvas sizes, comma-separated WxH (default 1280x720,1920x1080)")
    p.add_argument("--window", type=float, default=10.0,
                   help="seconds measured per variant, split over the rounds (default 10)")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds of no filter / Face Swap / Face Swap (camera), interleaved so that all three "
                        "see the same load (default 5)")
    p.add_argument("--warmup", type=float, default=1.5,
                   help="seconds each variant settles after the switch, before its block is measured (default 1.5)")
    p.add_argument("--slider-tries", type=int, default=3,
                   help="blend 100 -> 0 changes timed, on the first canvas; 0 skips (default 3)")
    p.add_argument("--transport-only", action="store_true",
                   help="the worker sends every frame back unchanged: the filters' own cost inside OBS "
                        "(read-back, copies, upload) without the swap's CPU use beside it; no slider rows")
    p.add_argument("--python", default=None, help="interpreter for the worker (default: this one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)
