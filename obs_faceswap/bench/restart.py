"""``obs-faceswap bench restart``: how long a face swap is gone after the worker crashes (SIGKILL),
with a warm spare worker (what OBS runs) beside the baseline of a new worker process, same run.

A face channel (the embedded swapper, the bundled astronaut photo as source and as frame) runs
until processed frames come back; then the worker is killed and the time until a frame comes back
through the face pipeline again is taken, ``--kills`` times per variant. The new-process figure pays for the Python
start-up, the imports and the model loads; the spare has done its imports while it waited.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from obs_faceswap.bench import p50, report
from obs_faceswap.errors import WorkerError


def _first_swap_s(video: Any, frame: Any, t0: float, timeout: float = 60.0) -> float:
    h, w = frame.shape[:2]
    while time.monotonic() - t0 < timeout:
        if video.submit(frame, w, h, w * 4, "BGRA", 0):
            # a result exists only once the face pipeline is built and has run on the frame
            if video.wait_result(0.1, video.submitted_seq) is not None:
                return time.monotonic() - t0
        else:
            time.sleep(0.005)
    raise WorkerError(f"no processed frame within {timeout:.0f} s: {video.status_text}")


def _variant(spare: bool, kills: int, python: str) -> list[float]:
    import cv2

    from obs_faceswap.bench.photos import ASTRONAUT, astronaut_bgr
    from obs_faceswap.ipc import WorkerClient
    from obs_faceswap.ipc import supervisor as sup_mod

    frame = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2BGRA)
    client = WorkerClient(python, log=lambda _msg: None, warm_spare=spare).start()
    out: list[float] = []
    try:
        if not client.wait_ready(60):
            raise WorkerError(f"the worker did not start: {client.status}")
        video = client.open_video({"source_image": str(ASTRONAUT), "swapper": "embedded", "blend": 100},
                                  processor="face")
        _first_swap_s(video, frame, time.monotonic())
        for _ in range(kills):
            # a worker that has run a while (and so has its spare, fully imported) then crashes
            deadline = time.monotonic() + sup_mod.RAN_WELL_S + 1
            while time.monotonic() < deadline:
                _first_swap_s(video, frame, time.monotonic())
                time.sleep(0.1)
            old = client.worker_pid
            t0 = time.monotonic()
            os.kill(old, getattr(signal, "SIGKILL", signal.SIGTERM))
            while client.worker_pid == old:
                time.sleep(0.002)
            out.append(_first_swap_s(video, frame, t0) * 1000.0)
    finally:
        client.stop()
    return out


def run(kills: int = 3, python: str | None = None) -> dict[str, Any]:
    py = python or sys.executable
    new = _variant(False, kills, py)
    spare = _variant(True, kills, py)
    return {
        "swapper": "embedded",
        "kills": kills,
        "new_process_p50_ms": round(p50(new), 1),
        "warm_spare_p50_ms": round(p50(spare), 1),
        "new_process_ms": [round(x, 1) for x in new],
        "warm_spare_ms": [round(x, 1) for x in spare],
        "speedup": round(p50(new) / p50(spare), 2) if p50(spare) > 0 else 0.0,
    }


def _main(args: argparse.Namespace) -> int:
    result = run(args.kills, args.python)
    report(result, as_json=args.json, title="restart: worker killed -> face swapped again (warm spare vs new process)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("restart", help="face swap back after a worker crash: warm spare vs new process",
                       description=__doc__)
    p.add_argument("--kills", type=int, default=3, help="crashes per variant (default 3)")
    p.add_argument("--python", default=None, help="interpreter for the worker (default: this one)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)
