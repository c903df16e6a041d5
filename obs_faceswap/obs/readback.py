"""GPU read-back of one rectangle of a source, at any output size (graphics thread, stdlib only).

``Readback.render`` draws a source into a texrender of the output size with an orthographic
projection over the rectangle (the whole frame into a small texture: a downscaled frame; a
rectangle into a texture of its own size: a full-resolution crop), so the renderer only fills
the pixels read back. ``stage`` copies it into one of two staging surfaces; ``mapped`` maps the
*other* one (last frame's), so a real GPU never stalls on the read-back.
"""

from __future__ import annotations

import ctypes as C
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..ipc.regions import Rect
from . import libobs


@dataclass
class Staged:
    """What a staging surface holds: the rectangle of the frame and the size it was drawn at."""

    rect: Rect
    width: int
    height: int
    frame: tuple[int, int]
    stamp: int


class Readback:
    def __init__(self, lib: libobs.LibObs) -> None:
        self.lib = lib
        self.texrender: int | None = None
        self.stages: list[int | None] = [None, None]
        self.sizes: list[tuple[int, int]] = [(0, 0), (0, 0)]
        self.staged: list[Staged | None] = [None, None]
        self.index = 0

    def free(self) -> None:
        lib = self.lib
        if self.texrender:
            lib.gs_texrender_destroy(self.texrender)
        for stage in self.stages:
            if stage:
                lib.gs_stagesurface_destroy(stage)
        self.texrender, self.stages, self.sizes, self.staged = None, [None, None], [(0, 0), (0, 0)], [None, None]

    def render(self, draw: Callable[[], None], rect: Rect, width: int, height: int) -> bool:
        """Draw ``draw()`` (the source at its own size) with ``rect`` of it filling a ``width`` x
        ``height`` texture."""
        lib = self.lib
        if not self.texrender:
            self.texrender = lib.gs_texrender_create(libobs.GS_BGRA, libobs.GS_ZS_NONE)
        lib.gs_texrender_reset(self.texrender)
        if not lib.gs_texrender_begin(self.texrender, width, height):
            return False
        clear = (C.c_float * 4)(0.0, 0.0, 0.0, 0.0)
        lib.gs_clear(libobs.GS_CLEAR_COLOR, C.addressof(clear), 0.0, 0)
        lib.gs_ortho(float(rect.x), float(rect.x + rect.w), float(rect.y), float(rect.y + rect.h), -100.0, 100.0)
        lib.gs_blend_state_push()
        lib.gs_blend_function(libobs.GS_BLEND_ONE, libobs.GS_BLEND_ZERO)
        draw()
        lib.gs_blend_state_pop()
        lib.gs_texrender_end(self.texrender)
        return True

    def stage(self, info: Staged) -> None:
        """Copy the texture just rendered (``info.width`` x ``info.height``) into this frame's surface."""
        lib, cur = self.lib, self.index
        size = (info.width, info.height)
        if self.sizes[cur] != size or not self.stages[cur]:
            if self.stages[cur]:
                lib.gs_stagesurface_destroy(self.stages[cur])
            self.stages[cur] = lib.gs_stagesurface_create(info.width, info.height, libobs.GS_BGRA)
            self.sizes[cur] = size
        lib.gs_stage_texture(self.stages[cur], lib.gs_texrender_get_texture(self.texrender))
        self.staged[cur] = info

    def skip(self) -> None:
        """Nothing staged this frame (e.g. no crop wanted)."""
        self.staged[self.index] = None

    def flip(self) -> None:
        self.index ^= 1

    @contextmanager
    def mapped(self) -> Iterator[tuple[int, int, Staged] | None]:
        """Last frame's surface mapped: (address, bytes per row, what it holds), or None."""
        prev = self.index ^ 1
        info = self.staged[prev]
        stage = self.stages[prev]
        if info is None or not stage:
            yield None
            return
        ptr, linesize = C.c_void_p(), C.c_uint32()
        if not self.lib.gs_stagesurface_map(stage, C.byref(ptr), C.byref(linesize)):
            yield None
            return
        try:
            yield (int(ptr.value or 0), int(linesize.value), info) if ptr.value else None
        finally:
            self.lib.gs_stagesurface_unmap(stage)
            self.staged[prev] = None


def draw_texture(lib: Any, texture: int, w: int, h: int, x: int = 0, y: int = 0) -> None:
    """Draw ``texture`` (``w`` x ``h``) with the default effect, its top-left corner at (x, y)."""
    effect = lib.obs_get_base_effect(libobs.OBS_EFFECT_DEFAULT)
    lib.gs_effect_set_texture(lib.gs_effect_get_param_by_name(effect, b"image"), texture)
    if x or y:
        lib.gs_matrix_push()
        lib.gs_matrix_translate3f(float(x), float(y), 0.0)
    while lib.gs_effect_loop(effect, b"Draw"):
        lib.gs_draw_sprite(texture, 0, w, h)
    if x or y:
        lib.gs_matrix_pop()
