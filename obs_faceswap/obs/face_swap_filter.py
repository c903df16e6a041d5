"""The "Face Swap" video filter (render path: works on every synchronous and async source).

Per frame, on the graphics thread, in ``video_render``:
  1. render the filter's input into a texrender (BGRA);
  2. ``gs_stage_texture`` into one of two staging surfaces and map the *other* one (last frame's),
     so a real GPU never stalls on the readback; one ``submit`` copies it into the worker's
     shared memory (non-blocking, latest wins);
  3. if the worker has a finished result for a recent frame, upload the newest one once with
     ``gs_texture_set_image`` into a ``GS_DYNAMIC`` texture and draw it; otherwise draw the input
     unchanged (bypass), so a slow, crashed or missing worker never freezes the picture.
"""

from __future__ import annotations

import ctypes as C
import os
import time
from typing import TYPE_CHECKING, Any

from ..settings import FACE_SETTINGS
from . import callbacks, libobs, runtime
from .lipsync_option import LipSyncOption
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


class FaceSwapFilter(LipSyncOption):
    label = "Face Swap"
    off_text = "off (passing video through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)  # LipSyncOption: starts the capture the settings ask for
        self.size = (0, 0)
        self.texrender: int | None = None
        self.stages: list[int | None] = [None, None]
        self.staged = [False, False]
        self.index = 0
        self.texture: int | None = None
        self.uploaded = False  # the dynamic texture holds a result of the current size
        self.render_ms = 0.0  # moving average of video_render's own cost
        self.stage_ns = [0, 0]  # when each staged frame was rendered: its timestamp (lip sync aligns by it)

    def open_channel(self, client: WorkerClient) -> VideoChannel:
        return client.open_video(self.worker_settings(), processor=VIDEO_PROCESSOR)

    # ---------------------------------------------------------------- graphics
    def _free_graphics(self) -> None:
        lib = self.lib
        if self.texrender:
            lib.gs_texrender_destroy(self.texrender)
        for stage in self.stages:
            if stage:
                lib.gs_stagesurface_destroy(stage)
        if self.texture:
            lib.gs_texture_destroy(self.texture)
        self.texrender, self.stages, self.texture = None, [None, None], None
        self.staged = [False, False]
        self.size = (0, 0)

    def _ensure_graphics(self, w: int, h: int) -> None:
        if self.size == (w, h) and self.texrender:
            return
        self._free_graphics()  # already inside the graphics context (video_render)
        lib = self.lib
        self.texrender = lib.gs_texrender_create(libobs.GS_BGRA, libobs.GS_ZS_NONE)
        self.stages = [lib.gs_stagesurface_create(w, h, libobs.GS_BGRA) for _ in range(2)]
        self.texture = lib.gs_texture_create(w, h, libobs.GS_BGRA, 1, None, libobs.GS_DYNAMIC)
        self.size = (w, h)
        self.uploaded = False

    def _render_input(self, target: int, parent: int, w: int, h: int) -> bool:
        lib = self.lib
        lib.gs_texrender_reset(self.texrender)
        if not lib.gs_texrender_begin(self.texrender, w, h):
            return False
        clear = (C.c_float * 4)(0.0, 0.0, 0.0, 0.0)
        lib.gs_clear(libobs.GS_CLEAR_COLOR, C.addressof(clear), 0.0, 0)
        lib.gs_ortho(0.0, float(w), 0.0, float(h), -100.0, 100.0)
        lib.gs_blend_state_push()
        lib.gs_blend_function(libobs.GS_BLEND_ONE, libobs.GS_BLEND_ZERO)
        flags = lib.obs_source_get_output_flags(parent)
        if target == parent and not flags & (libobs.OBS_SOURCE_CUSTOM_DRAW | libobs.OBS_SOURCE_ASYNC):
            lib.obs_source_default_render(target)
        else:
            lib.obs_source_video_render(target)
        lib.gs_blend_state_pop()
        lib.gs_texrender_end(self.texrender)
        return True

    def _draw(self, texture: int, w: int, h: int) -> None:
        lib = self.lib
        effect = lib.obs_get_base_effect(libobs.OBS_EFFECT_DEFAULT)
        lib.gs_effect_set_texture(lib.gs_effect_get_param_by_name(effect, b"image"), texture)
        while lib.gs_effect_loop(effect, b"Draw"):
            lib.gs_draw_sprite(texture, 0, w, h)

    def _submit_previous(self, channel: VideoChannel, w: int, h: int) -> None:
        """Stage this frame, map last frame's surface and hand it to the worker (one memmove)."""
        lib = self.lib
        cur, prev = self.index, self.index ^ 1
        lib.gs_stage_texture(self.stages[cur], lib.gs_texrender_get_texture(self.texrender))
        self.staged[cur] = True
        self.stage_ns[cur] = time.monotonic_ns()
        self.index = prev
        if not self.staged[prev]:
            return
        ptr, linesize = C.c_void_p(), C.c_uint32()
        if not lib.gs_stagesurface_map(self.stages[prev], C.byref(ptr), C.byref(linesize)):
            return
        try:
            channel.submit(ptr.value, w, h, linesize.value, PIXEL_FORMAT, self.stage_ns[prev])
        finally:
            lib.gs_stagesurface_unmap(self.stages[prev])

    def _fresh_result(self, channel: VideoChannel) -> bool:
        """Upload the newest result once; True when the texture holds a fresh one to draw."""
        view = channel.result()  # None: nothing fresh (worker slow, restarting, gone, other size)
        if view is None:
            return False
        if view.is_new or not self.uploaded:
            self.lib.gs_texture_set_image(self.texture, view.address, int(view.stride), False)
            self.uploaded = True
        return True

    def render(self) -> None:
        start = time.perf_counter()
        lib = self.lib
        target = lib.obs_filter_get_target(self.source)
        parent = lib.obs_filter_get_parent(self.source)
        w = lib.obs_source_get_base_width(target) if target else 0
        h = lib.obs_source_get_base_height(target) if target else 0
        channel = self.live_channel() if self.enabled else None
        if not target or not parent or not w or not h or channel is None or not link().running():
            lib.obs_source_skip_video_filter(self.source)  # bypass, no readback
            return
        self._ensure_graphics(w, h)
        if not self._render_input(target, parent, w, h):
            lib.obs_source_skip_video_filter(self.source)
            return
        fresh = False
        try:
            self._submit_previous(channel, w, h)
            fresh = self._fresh_result(channel)
        except Exception as exc:  # noqa: BLE001  (a broken channel must not break the picture)
            self.log_once("worker channel", exc)
        self._draw(self.texture if fresh else lib.gs_texrender_get_texture(self.texrender), w, h)
        self.render_ms += 0.05 * (1000.0 * (time.perf_counter() - start) - self.render_ms)

    def status_text(self) -> str:
        text = super().status_text()
        if self.enabled and self.render_ms:  # what the filter costs OBS's graphics thread
            text += f"; OBS side {self.render_ms:.1f} ms/frame"
        return text

    def destroy(self) -> None:
        super().destroy()
        if self.texrender or self.texture or any(self.stages):
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
