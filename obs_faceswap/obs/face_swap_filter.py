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
from typing import Any

from ..settings import FACE_SETTINGS
from . import libobs, properties, runtime
from .worker_link import RateLimit, close_quietly, link

FILTER_ID = b"obs_faceswap_video"
DISPLAY_NAME = b"Face Swap"
PIXEL_FORMAT = "BGRA"
# 'face' is the real pipeline; the worker's test processors ('invert', 'noop') check the
# transport without any model (diagnosis: docs/obs.md)
VIDEO_PROCESSOR = os.environ.get("OBS_FACESWAP_VIDEO_PROCESSOR", "face")


class FaceSwapFilter:
    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        self.lib = lib
        self.source = source
        self.settings = settings
        self.size = (0, 0)
        self.texrender: int | None = None
        self.stages: list[int | None] = [None, None]
        self.staged = [False, False]
        self.index = 0
        self.texture: int | None = None
        self.channel: Any = None
        self.status_tick = RateLimit(1.0)
        self.uploaded = False  # the dynamic texture holds a result of the current size
        self.last_status = ""

    # ---------------------------------------------------------------- worker channel
    def live_channel(self) -> Any:
        """This filter's channel on the shared worker (opened on first use; never blocks)."""
        channel = self.channel
        if channel is not None and not channel.closed:
            return channel
        client = link().client()
        if client is None:
            return None
        self.channel = client.open_video(dict(self.settings), processor=VIDEO_PROCESSOR)
        return self.channel

    def update(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        channel = self.channel
        if channel is not None and not channel.closed:
            try:
                channel.update(dict(settings))
            except Exception as exc:  # noqa: BLE001
                runtime.log(f"Face Swap settings not applied: {exc}", libobs.LOG_WARNING)

    def status_text(self) -> str:
        if not self.settings.get("enabled", True):
            return "off (passing video through)"
        channel = self.channel
        if channel is not None and not channel.closed:
            return str(channel.status_text)
        error = link().error
        return f"bypass: {error}" if error else "starting worker..."

    def tick(self) -> None:
        if self.status_tick():
            text = self.status_text()
            if text != self.last_status:
                self.last_status = text
                properties.write_status(self.lib, self.source, text)

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

    def _submit_previous(self, channel: Any, w: int, h: int) -> None:
        """Stage this frame, map last frame's surface and hand it to the worker (one memmove)."""
        lib = self.lib
        cur, prev = self.index, self.index ^ 1
        lib.gs_stage_texture(self.stages[cur], lib.gs_texrender_get_texture(self.texrender))
        self.staged[cur] = True
        self.index = prev
        if not self.staged[prev]:
            return
        ptr, linesize = C.c_void_p(), C.c_uint32()
        if not lib.gs_stagesurface_map(self.stages[prev], C.byref(ptr), C.byref(linesize)):
            return
        try:
            channel.submit(ptr.value, w, h, linesize.value, PIXEL_FORMAT, time.monotonic_ns())
        finally:
            lib.gs_stagesurface_unmap(self.stages[prev])

    def _fresh_result(self, channel: Any) -> bool:
        """Upload the newest result once; True when the texture holds a fresh one to draw."""
        view = channel.result()  # None: nothing fresh (worker slow, restarting, gone, other size)
        if view is None:
            return False
        if view.is_new or not self.uploaded:
            self.lib.gs_texture_set_image(self.texture, view.address, int(view.stride), False)
            self.uploaded = True
        return True

    def render(self) -> None:
        lib = self.lib
        target = lib.obs_filter_get_target(self.source)
        parent = lib.obs_filter_get_parent(self.source)
        w = lib.obs_source_get_base_width(target) if target else 0
        h = lib.obs_source_get_base_height(target) if target else 0
        channel = self.live_channel() if self.settings.get("enabled", True) else None
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
            runtime.log_once(f"video channel {exc}", f"Face Swap: worker channel failed: {exc!r}",
                             libobs.LOG_WARNING)
        self._draw(self.texture if fresh else lib.gs_texrender_get_texture(self.texrender), w, h)

    def destroy(self) -> None:
        channel, self.channel = self.channel, None
        close_quietly(channel)
        if self.texrender or self.texture or any(self.stages):
            self.lib.obs_enter_graphics()
            try:
                self._free_graphics()
            finally:
                self.lib.obs_leave_graphics()


# -------------------------------------------------------------------- C callbacks
# Every callback catches everything: an exception escaping a ctypes callback is printed and
# the C side gets a zero (NULL), which OBS may misread.


@libobs.GET_NAME
def _get_name(_type_data: int) -> int:
    return C.addressof(runtime.STATE["names"][FILTER_ID])


@libobs.CREATE
def _create(settings: int, source: int) -> int | None:
    try:
        lib = libobs.get()
        f = FaceSwapFilter(lib, source, properties.read(lib, settings, FACE_SETTINGS))
        return runtime.add_instance(f)
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Face Swap create failed: {exc!r}", libobs.LOG_ERROR)
        return None


@libobs.DESTROY
def _destroy(data: int) -> None:
    f = runtime.pop_instance(data)
    if f is not None:
        try:
            f.destroy()
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"Face Swap destroy: {exc!r}", libobs.LOG_ERROR)


@libobs.UPDATE
def _update(data: int, settings: int) -> None:
    f = runtime.get_instance(data)
    if f is not None:
        try:
            f.update(properties.read(f.lib, settings, FACE_SETTINGS))
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"Face Swap update failed: {exc!r}", libobs.LOG_ERROR)


@libobs.GET_DEFAULTS
def _get_defaults(settings: int) -> None:
    try:
        properties.set_defaults(libobs.get(), settings, FACE_SETTINGS)
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Face Swap defaults failed: {exc!r}", libobs.LOG_ERROR)


@libobs.GET_PROPERTIES
def _get_properties(_data: int) -> int | None:
    try:
        return properties.build(libobs.get(), FACE_SETTINGS)
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Face Swap properties failed: {exc!r}", libobs.LOG_ERROR)
        return None


@libobs.VIDEO_TICK
def _video_tick(data: int, _seconds: float) -> None:
    f = runtime.get_instance(data)
    if f is not None:
        try:
            f.tick()
        except Exception as exc:  # noqa: BLE001
            runtime.log_once(f"video tick {exc}", f"Face Swap status failed: {exc!r}")


@libobs.VIDEO_RENDER
def _video_render(data: int, _effect: int) -> None:
    f = runtime.get_instance(data)
    if f is None:
        return
    try:
        f.render()
    except Exception as exc:  # noqa: BLE001
        runtime.log_once(f"video render {exc}", f"Face Swap render failed: {exc!r}", libobs.LOG_ERROR)
        f.lib.obs_source_skip_video_filter(f.source)


CALLBACKS = {
    "get_name": _get_name,
    "create": _create,
    "destroy": _destroy,
    "update": _update,
    "get_defaults": _get_defaults,
    "get_properties": _get_properties,
    "video_tick": _video_tick,
    "video_render": _video_render,
}
OUTPUT_FLAGS = libobs.OBS_SOURCE_VIDEO
