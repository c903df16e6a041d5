"""The "Face Swap (camera)" filter: the async variant for webcams and media sources.

``filter_video`` gets each raw frame (I420, NV12, YUY2, RGBA, BGRA, BGRX) before OBS uploads it:
no GPU read-back at all. It hands the planes to the worker (one copy per plane into shared
memory, with the frame's colour matrix: range and coefficients) and, when a fresh result of the
same size and format is ready, copies over the frame in place only the rectangle the worker
changed (the swapped face; for I420/NV12 the chroma of the 2x2 blocks it covers; nothing when no
face was swapped), one C call per plane (``ipc/plane_copy.py``): the rest of the frame stays as
decoded, and the copy-back no longer grows with the frame (issue 19). Otherwise the frame goes on
unchanged (bypass). OBS only offers async filters on async sources; the render-path "Face Swap"
works everywhere.
"""

from __future__ import annotations

import ctypes as C
import time
from typing import TYPE_CHECKING, Any

from ..settings import FACE_SETTINGS
from . import callbacks, libobs, runtime
from .face_swap_filter import VIDEO_PROCESSOR
from .lipsync_option import LipSyncOption
from .worker_link import link

if TYPE_CHECKING:
    from ..ipc.client import WorkerClient
    from ..ipc.client_channels import VideoChannel

FILTER_ID = b"obs_faceswap_video_async"
DISPLAY_NAME = b"Face Swap (camera)"

# enum video_format (libobs/media-io/video-io.h) -> (worker format, number of planes)
FORMATS: dict[int, tuple[str, int]] = {1: ("I420", 3), 2: ("NV12", 2), 4: ("YUY2", 1), 6: ("RGBA", 1),
                                       7: ("BGRA", 1), 8: ("BGRX", 1)}
YUV_FORMATS = ("I420", "NV12", "YUY2")
HALF_BYTES_PER_PIXEL = {"I420": 3, "NV12": 3, "YUY2": 4, "RGBA": 8, "BGRA": 8, "BGRX": 8}
AVERAGE = 0.05  # weight of a new frame in the moving averages of the status line


class AsyncFaceSwapFilter(LipSyncOption):
    label = "Face Swap (camera)"
    off_text = "off (passing video through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)
        self.filter_ms = 0.0  # moving average of filter_video's own cost
        self.copied_bytes = 0.0  # ... of the bytes copied back over the frame
        self.frame_bytes = 0  # the last frame's size (all planes)

    def open_channel(self, client: WorkerClient) -> VideoChannel:
        return client.open_video(self.worker_settings(), processor=VIDEO_PROCESSOR)

    def filter(self, frame: Any) -> None:
        """Swap in place (the caller returns the same frame)."""
        start = time.perf_counter()
        copied = self._filter(frame)
        if copied is not None:
            self.copied_bytes += AVERAGE * (copied - self.copied_bytes)
            self.filter_ms += AVERAGE * (1000.0 * (time.perf_counter() - start) - self.filter_ms)

    def _filter(self, frame: Any) -> int | None:
        """The bytes copied back over ``frame``; None when the frame was not handed to the worker."""
        if not self.enabled:
            return None
        f = frame.contents
        known = FORMATS.get(int(f.format))
        if known is None:
            runtime.log_once(f"async format {f.format}", f"{self.label}: video format {f.format} is not "
                             "supported; use the 'Face Swap' filter on this source", libobs.LOG_WARNING)
            return None
        channel = self.live_channel()
        if channel is None or not link().running():
            return None
        fmt, nplanes = known
        w, h = int(f.width), int(f.height)
        planes = [C.cast(f.data[i], C.c_void_p).value for i in range(nplanes)]
        strides = [int(f.linesize[i]) for i in range(nplanes)]
        if not all(planes):
            return None
        # YUV: the frame's own YUV->RGB matrix (BT.601/709, full or limited range: MJPEG webcams
        # are full range), so the worker converts both ways exactly as OBS will draw it
        matrix = list(f.color_matrix) if fmt in YUV_FORMATS else None
        # lip sync: stamped on arrival, the clock its audio is stamped on (OBS's own may be far off)
        ts = time.monotonic_ns() if self.lipsync is not None else int(f.timestamp)
        if nplanes == 1:
            sent = channel.submit(planes[0], w, h, strides[0], fmt, ts, color_matrix=matrix)
        else:
            sent = channel.submit(planes, w, h, strides, fmt, ts, color_matrix=matrix)
        if not sent:
            return None
        self.frame_bytes = w * h * HALF_BYTES_PER_PIXEL[fmt] // 2
        view = channel.result()  # None: nothing fresh of this size/format -> frame unchanged
        # only the rectangle the worker changed (if it said so: else the whole frame)
        return view.copy_to(planes, strides) if view is not None else 0

    def status_text(self) -> str:
        text = super().status_text()
        if self.enabled and self.filter_ms:  # what the filter costs OBS's video thread
            text += (f"; OBS side {self.filter_ms:.1f} ms/frame, copied back {self.copied_bytes / 1024:.0f} KB/frame"
                     f" of {self.frame_bytes / 1024:.0f} KB")
        return text


@libobs.FILTER_VIDEO
def _filter_video(data: int, frame: Any) -> int | None:
    ptr = C.cast(frame, C.c_void_p).value
    f = runtime.get_instance(data)
    if f is not None and ptr:
        try:
            f.filter(frame)
        except Exception as exc:  # noqa: BLE001  (NULL would mean "filter kept the frame")
            f.log_once("filter_video", exc, libobs.LOG_ERROR)
    return ptr


CALLBACKS = {**callbacks.make(FILTER_ID, "Face Swap (camera)", FACE_SETTINGS, AsyncFaceSwapFilter),
             "filter_video": _filter_video}
OUTPUT_FLAGS = libobs.OBS_SOURCE_VIDEO | libobs.OBS_SOURCE_ASYNC
