"""Video channel threads yield the CPU to OBS (issue 19).

With software rendering (no GPU, llvmpipe) OBS draws every frame on the same CPU cores the face
pipeline runs on; at equal priority a busy worker makes OBS skip frames. A video channel thread
therefore lowers its own scheduling priority (``nice``) after its first frame (its models load
and its first frame is swapped at full speed: a restarted worker swaps again soon); the embedded
models run in that thread, so
their work yields to OBS (neural models' own thread pools, made while loading, keep theirs). Audio channel
threads keep theirs: a voice that arrives late is heard, a late swapped frame is just not shown
(the filter draws its input). Linux only (a thread's own nice value); elsewhere nothing changes.
``OBS_FACESWAP_VIDEO_NICE`` sets the step (default 10, 0 = off).
"""

from __future__ import annotations

import os
import sys
import threading

DEFAULT_NICE = 10


def video_nice() -> int:
    try:
        return max(0, min(19, int(os.environ.get("OBS_FACESWAP_VIDEO_NICE", DEFAULT_NICE))))
    except ValueError:
        return DEFAULT_NICE


def lower_this_thread(step: int | None = None) -> bool:
    """Lower the calling thread's priority by ``step`` nice levels; False where that is not possible."""
    step = video_nice() if step is None else step
    if step <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError:
        return False
    return True
