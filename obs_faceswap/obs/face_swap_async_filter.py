"""The "Face Swap (camera)" filter: the async variant for webcams and media sources.

``filter_video`` gets each raw frame (I420, NV12, YUY2, RGBA, BGRA, BGRX) before OBS uploads it:
no GPU read-back at all. It hands the planes to the worker (one copy per plane into shared
memory, with the frame's colour matrix: range and coefficients) and, when a fresh result of the
same size and format is ready, copies it over the frame in place. Otherwise the frame goes on unchanged (bypass). OBS only offers async filters on
async sources; the render-path "Face Swap" works everywhere.
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


class AsyncFaceSwapFilter(LipSyncOption):
    label = "Face Swap (camera)"
    off_text = "off (passing video through)"

    def open_channel(self, client: WorkerClient) -> VideoChannel:
        return client.open_video(self.worker_settings(), processor=VIDEO_PROCESSOR)

    def filter(self, frame: Any) -> None:
        """Swap in place (the caller returns the same frame)."""
        if not self.enabled:
            return
        f = frame.contents
        known = FORMATS.get(int(f.format))
        if known is None:
            runtime.log_once(f"async format {f.format}", f"{self.label}: video format {f.format} is not "
                             "supported; use the 'Face Swap' filter on this source", libobs.LOG_WARNING)
            return
        channel = self.live_channel()
        if channel is None or not link().running():
            return
        fmt, nplanes = known
        w, h = int(f.width), int(f.height)
        planes = [C.cast(f.data[i], C.c_void_p).value for i in range(nplanes)]
        strides = [int(f.linesize[i]) for i in range(nplanes)]
        if not all(planes):
            return
        # YUV: the frame's own YUV->RGB matrix (BT.601/709, full or limited range: MJPEG webcams
        # are full range), so the worker converts both ways exactly as OBS will draw it
        matrix = list(f.color_matrix) if fmt in YUV_FORMATS else None
        # lip sync: stamped on arrival, the clock its audio is stamped on (OBS's own may be far off)
        ts = time.monotonic_ns() if self.lipsync is not None else int(f.timestamp)
        if nplanes == 1:
            channel.submit(planes[0], w, h, strides[0], fmt, ts, color_matrix=matrix)
        else:
            channel.submit(planes, w, h, strides, fmt, ts, color_matrix=matrix)
        view = channel.result()  # None: nothing fresh of this size/format -> frame unchanged
        if view is not None:
            view.copy_to(planes, strides)


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
