"""The "Face Swap" video filter (render path: works on every synchronous and async source).

Per frame, on the graphics thread, in ``video_render`` (issue 19: what OBS pays must not grow
with the frame size):
  1. read back *region frames* (``obs_faceswap/ipc/regions.py``): the whole input downscaled to at
     most ``SMALL_SIDE`` px (the worker finds faces on it) and, once the worker tracks a face, the
     rectangle around it that the worker asked for, at full resolution (the worker tracks the face
     on it; the downscaled frame then goes only every ``SMALL_EVERY`` frames). Each is drawn
     into a texrender of its own small size (an orthographic projection over the rectangle), staged
     the next frame and mapped and copied into shared memory the frame after (``readback.Readback``;
     ``submit_region``, non-blocking, latest wins);
  2. draw the input unchanged (``obs_source_skip_video_filter``), then, if the worker has a fresh
     result, the swapped rectangle over it at its place: uploaded once into one of two ``GS_DYNAMIC``
     textures of the rectangle's size (``readback.UploadTextures``). Without a fresh result (no face, first frames, worker slow, crashed
     or restarting) nothing is drawn over the input: OBS never waits and never shows a frozen face.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..ipc.regions import NO_RECT, SMALL_EVERY, Rect, clamp, small_size
from ..settings import FACE_SETTINGS
from . import callbacks, libobs, runtime
from .lipsync_option import LipSyncOption
from .readback import Readback, Staged, UploadTextures, draw_texture
from .worker_link import link

if TYPE_CHECKING:
    from ..ipc.client import WorkerClient
    from ..ipc.client_channels import VideoChannel

FILTER_ID = b"obs_faceswap_video"
DISPLAY_NAME = b"Face Swap"
PIXEL_FORMAT = "BGRA"
# 'face' is the real pipeline; the worker's test processors ('invert', 'noop') check the
# transport without any model (diagnosis: docs/obs.md)
VIDEO_PROCESSOR = os.environ.get("OBS_FACESWAP_VIDEO_PROCESSOR", "face")
AVERAGE = 0.05  # weight of a new frame in the moving averages of the status line
# OBS_FACESWAP_RENDER_PROFILE=1: log where video_render's time goes, every PROFILE_FRAMES frames
PROFILE = os.environ.get("OBS_FACESWAP_RENDER_PROFILE") == "1"
PROFILE_FRAMES = 150


class FaceSwapFilter(LipSyncOption):
    label = "Face Swap"
    off_text = "off (passing video through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)  # LipSyncOption: starts the capture the settings ask for
        self.small = Readback(lib)  # the whole input, downscaled
        self.crop = Readback(lib)  # the rectangle the worker asked for, full resolution
        self.want = NO_RECT  # that rectangle (from the newest result; empty: no track)
        self.frame = (0, 0)
        self.uploads = UploadTextures(lib)  # the swapped rectangle, uploaded
        self.render_ms = 0.0  # moving average of video_render's own cost
        self.read_bytes = 0.0  # moving average of the bytes read back from the GPU per frame
        self.upload_bytes = 0.0  # ... and uploaded to it
        self.phases: dict[str, float] = {}  # PROFILE: milliseconds per phase, summed
        self.phase_max: dict[str, float] = {}  # ... and the longest
        self.profiled = 0
        self._t = 0.0
        self.frames = 0

    def open_channel(self, client: WorkerClient) -> VideoChannel:
        return client.open_video(self.worker_settings(), processor=VIDEO_PROCESSOR)

    # ---------------------------------------------------------------- graphics
    def _free_graphics(self) -> None:
        self.small.free()
        self.crop.free()
        self.uploads.free()

    def _draw_input(self, target: int, parent: int) -> None:
        lib = self.lib
        flags = lib.obs_source_get_output_flags(parent)
        if target == parent and not flags & (libobs.OBS_SOURCE_CUSTOM_DRAW | libobs.OBS_SOURCE_ASYNC):
            lib.obs_source_default_render(target)
        else:
            lib.obs_source_video_render(target)

    def _read_back(self, channel: VideoChannel, target: int, parent: int, w: int, h: int) -> None:
        """Render and stage this frame's region frame; hand last frame's to the worker."""
        def draw() -> None:
            self._draw_input(target, parent)

        sw, sh = small_size(w, h)
        stamp = time.monotonic_ns()
        want = NO_RECT if (sw, sh) == (w, h) else clamp(self.want, w, h)  # a small frame is sent whole
        self.frames += 1
        # with a crop (a tracked face) the downscaled frame only serves to find new faces
        send_small = want.empty or self.frames % SMALL_EVERY == 0
        self.small.stage_previous()
        self._lap("stage small")
        self.crop.stage_previous()
        self._lap("stage crop")
        if not send_small or not self.small.render(draw, Staged(Rect(0, 0, w, h), sw, sh, (w, h), stamp)):
            self.small.skip()
        self._lap("render small")
        if want.empty or not self.crop.render(draw, Staged(want, want.w, want.h, (w, h), stamp)):
            self.crop.skip()
        self._lap("render crop")
        read = 0
        try:
            with self.small.mapped() as small, self.crop.mapped() as crop:
                if crop is not None and crop[2].frame != (w, h):
                    crop = None
                if small is not None and small[2].frame != (w, h):
                    small = None
                if small is not None or crop is not None:
                    address, linesize, info = small if small is not None else (0, 0, None)
                    kw: dict[str, Any] = {}
                    if crop is not None:
                        kw = {"crop": crop[0], "crop_rect": crop[2].rect, "crop_stride": crop[1]}
                        read += crop[1] * crop[2].height
                    stamp = (info or crop[2]).stamp  # type: ignore[index]
                    self._lap("map")
                    channel.submit_region(address, info.width if info else 0, info.height if info else 0, linesize,
                                          w, h, PIXEL_FORMAT, stamp, **kw)
                    read += linesize * (info.height if info else 0)
                    self._lap("copy to shm")
        finally:
            self.small.flip()
            self.crop.flip()
        self.read_bytes += AVERAGE * (read - self.read_bytes)

    def _draw_result(self, channel: VideoChannel, w: int, h: int) -> None:
        """Draw the newest swapped rectangle over the input (uploaded once); follow its track."""
        view = channel.result()  # None: nothing fresh (worker slow, restarting, gone, other size)
        upload = 0
        region = view.region if view is not None else None
        if region is not None and (region.frame_w, region.frame_h) == (w, h):
            self.want = region.next
            r = region.crop
            if not r.empty:
                if view.is_new or self.uploads.size != (r.w, r.h):
                    self.uploads.upload(view.address + region.crop_offset, region.crop_stride, r.w, r.h)
                    upload = r.w * r.h * 4
                    self._lap("upload")
                texture = self.uploads.current
                if texture:
                    draw_texture(self.lib, texture, r.w, r.h, r.x, r.y)
                self._lap("draw region")
        self.upload_bytes += AVERAGE * (upload - self.upload_bytes)

    def _lap(self, phase: str) -> None:
        if PROFILE:
            now = time.perf_counter()
            ms = 1000.0 * (now - self._t)
            self.phases[phase] = self.phases.get(phase, 0.0) + ms
            self.phase_max[phase] = max(self.phase_max.get(phase, 0.0), ms)
            self._t = now

    def _log_profile(self) -> None:
        self.profiled += 1
        if self.profiled % PROFILE_FRAMES == 0:
            runtime.log(f"{self.label}: video_render ms/frame by phase (mean, max): " + ", ".join(
                f"{k} {v / PROFILE_FRAMES:.2f} {self.phase_max[k]:.1f}" for k, v in self.phases.items()))
            self.phases, self.phase_max = {}, {}

    def render(self) -> None:
        start = self._t = time.perf_counter()
        lib = self.lib
        target = lib.obs_filter_get_target(self.source)
        parent = lib.obs_filter_get_parent(self.source)
        w = lib.obs_source_get_base_width(target) if target else 0
        h = lib.obs_source_get_base_height(target) if target else 0
        channel = self.live_channel() if self.enabled else None
        if not target or not parent or not w or not h or channel is None or not link().running():
            lib.obs_source_skip_video_filter(self.source)  # bypass, no readback
            return
        if self.frame != (w, h):  # a new size: nothing of the old one is valid
            self._free_graphics()
            self.frame, self.want = (w, h), NO_RECT
        try:
            self._read_back(channel, target, parent, w, h)
        except Exception as exc:  # noqa: BLE001  (a broken channel must not break the picture)
            self.log_once("worker channel", exc)
        self._lap("read back")
        lib.obs_source_skip_video_filter(self.source)  # the input, unchanged
        self._lap("draw input")
        try:
            self._draw_result(channel, w, h)
        except Exception as exc:  # noqa: BLE001
            self.log_once("worker channel", exc)
        self._lap("rest")
        self.render_ms += AVERAGE * (1000.0 * (time.perf_counter() - start) - self.render_ms)
        if PROFILE:
            self._log_profile()

    def status_text(self) -> str:
        text = super().status_text()
        if self.enabled and self.render_ms:  # what the filter costs OBS's graphics thread
            w, h = self.frame
            text += (f"; OBS side {self.render_ms:.1f} ms/frame, read back {self.read_bytes / 1024:.0f} KB/frame"
                     f" of {w * h * 4 / 1024:.0f} KB, uploaded {self.upload_bytes / 1024:.0f} KB/frame")
        return text

    def destroy(self) -> None:
        super().destroy()
        if self.small.texrender or self.crop.texrender or any(self.uploads.textures):
            self.lib.obs_enter_graphics()
            try:
                self._free_graphics()
            finally:
                self.lib.obs_leave_graphics()


# -------------------------------------------------------------------- C callbacks


@libobs.VIDEO_RENDER
def _video_render(data: int, _effect: int) -> None:
    f = runtime.get_instance(data)
    if f is None:
        return
    try:
        f.render()
    except Exception as exc:  # noqa: BLE001
        f.log_once("render", exc, libobs.LOG_ERROR)
        f.lib.obs_source_skip_video_filter(f.source)


CALLBACKS = {**callbacks.make(FILTER_ID, "Face Swap", FACE_SETTINGS, FaceSwapFilter), "video_render": _video_render}
OUTPUT_FLAGS = libobs.OBS_SOURCE_VIDEO
