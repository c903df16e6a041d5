"""``obs-faceswap bench transport``: a 1280x720 BGRA frame through a real worker (noop processor)
and back, beside the floor: a numpy copy of the same frame out of cache, in the same run.

Per frame it does what the OBS "Face Swap" filter does in ``video_render``: ``submit`` the mapped
frame (one ``memmove`` into a shared-memory slot), ``result()`` (the newest fresh result, a
zero-copy view of the slot) and the upload (``gs_texture_set_image`` reads the slot's pixels
straight from shared memory; here a copy out of the slot stands in for it). The worker processes
the slot in place (noop: touches nothing), so a round trip is two copies plus two wake-ups.

* ``roundtrip``: submit -> the worker's result is back -> copied out (blocking on the result).
* ``obs_side``: what OBS's graphics thread spends per frame (submit + result() + upload copy).
* ``restart_ms``: the worker killed (SIGKILL) -> a frame goes through a new worker again (the
  supervisor's 0.2 s back-off, a Python start-up, the handshake and the channel re-opened).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from obs_faceswap.bench import p50, p99, report
from obs_faceswap.errors import WorkerError


def run(width: int = 1280, height: int = 720, frames: int = 300, python: str | None = None) -> dict[str, Any]:
    import numpy as np

    from obs_faceswap.ipc import WorkerClient

    rng = np.random.default_rng(0)
    nbytes = width * height * 4
    # enough distinct source frames to exceed the last-level cache, so every copy reads from RAM
    count = max(4, (64 << 20) // nbytes)
    sources = [rng.integers(0, 256, (height, width, 4), dtype=np.uint8) for _ in range(count)]
    dst = np.empty((height, width, 4), np.uint8)

    # the floor: a plain numpy copy of the frame out of cache, measured in its own steady state
    copy_ms: list[float] = []
    for i in range(frames + 10):
        src = sources[i % count]
        t0 = time.perf_counter()
        np.copyto(dst, src)
        if i >= 10:
            copy_ms.append((time.perf_counter() - t0) * 1000.0)

    client = WorkerClient(python or sys.executable, log=lambda _msg: None).start()
    try:
        if not client.wait_ready(60):
            raise WorkerError(f"the worker did not start: {client.status}")
        video = client.open_video({}, processor="noop", capacity=nbytes)
        out_addr = dst.ctypes.data
        trip_ms: list[float] = []
        obs_ms: list[float] = []
        for i in range(frames + 10):
            src = sources[i % count]
            t0 = time.perf_counter()
            video.submit(src.ctypes.data, width, height, width * 4, "BGRA", i)  # memmove from the mapped surface
            t1 = time.perf_counter()
            if video.wait_result(5.0, video.submitted_seq) is None:  # (OBS does not wait: it draws its input)
                raise WorkerError(f"no result from the worker: {video.status_text}")
            t2 = time.perf_counter()
            view = video.result()  # what video_render calls
            if view is None:
                raise WorkerError(f"the result was not fresh: {video.status_text}")
            view.copy_to(out_addr)  # stands in for gs_texture_set_image(texture, view.address, view.stride)
            t3 = time.perf_counter()
            if i >= 10:
                trip_ms.append((t3 - t0) * 1000.0)
                obs_ms.append((t1 - t0 + t3 - t2) * 1000.0)
        if not np.array_equal(dst, sources[(frames + 9) % count]):
            raise WorkerError("the frame came back different")
        deadline = time.monotonic() + 2.0  # the worker reports its own copy time once a second
        while not video.stats.get("proc_ms") and time.monotonic() < deadline:
            time.sleep(0.05)
        worker_ms = float(video.stats.get("proc_ms", 0.0))
        restart_ms = _restart_ms(client, video, sources[0], width, height)
        video.close()
    finally:
        client.stop()
    floor = p50(copy_ms)
    return {
        "frame": f"{width}x{height}",
        "roundtrip_p50_ms": round(p50(trip_ms), 3),
        "roundtrip_p99_ms": round(p99(trip_ms), 3),
        "memcpy_ms": round(floor, 3),
        "ratio": round(p50(trip_ms) / floor, 2) if floor > 0 else 0.0,
        "obs_side_p50_ms": round(p50(obs_ms), 3),
        "obs_side_p99_ms": round(p99(obs_ms), 3),
        "copies": 2,
        "worker_ms": round(worker_ms, 3),
        "restart_ms": round(restart_ms, 1),
        "frames": frames,
    }


def _restart_ms(client: Any, video: Any, frame: Any, width: int, height: int, timeout: float = 60.0) -> float:
    """Kill the worker and time until a frame makes the round trip through its replacement."""
    old = client.worker_pid
    t0 = time.perf_counter()
    os.kill(old, getattr(signal, "SIGKILL", signal.SIGTERM))
    while time.perf_counter() - t0 < timeout:
        if client.running and client.worker_pid not in (None, old) and \
                video.submit(frame.ctypes.data, width, height, width * 4, "BGRA", 0) and \
                video.wait_result(0.05, video.submitted_seq) is not None:
            return (time.perf_counter() - t0) * 1000.0
        time.sleep(0.002)
    raise WorkerError(f"the worker did not come back after being killed: {client.status}")


def _main(args: argparse.Namespace) -> int:
    w, _, h = args.frame.partition("x")
    result = run(int(w), int(h), args.frames, args.python)
    report(result, as_json=args.json, title="transport: shared-memory round trip vs numpy copy (floor)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transport", help="frame round trip through the worker vs a memcpy",
                       description=__doc__)
    p.add_argument("--frame", default="1280x720", help="WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--frames", type=int, default=300, help="frames to time (default 300)")
    p.add_argument("--python", default=None, help="interpreter for the worker (default: this one)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)
