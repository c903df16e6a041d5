"""GPU read-back of one rectangle of a source, at any output size (graphics thread, stdlib only).

``Readback.render`` draws a source into a texrender of the output size with an orthographic
projection over the rectangle (the whole frame into a small texture: a downscaled frame; a
rectangle into a texture of its own size: a full-resolution crop), so the renderer only fills
the pixels read back. ``stage_previous`` copies what the previous frame drew into one of two
staging surfaces; ``mapped`` maps the *other* one (staged the frame before), so neither a GPU nor
a lazy software renderer (llvmpipe draws queued work only when something needs its pixels)
waits on the read-back. ``UploadTextures`` does the same for the way back.
"""

from __future__ import annotations

import ctypes as C
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..ipc.plane_copy import copy_plane
from ..ipc.regions import Rect
from . import libobs

# how a result reaches the GPU: 'create' (default) makes a static texture with the pixels; 'dynamic'
# writes them into a GS_DYNAMIC texture (gs_texture_set_image), which on llvmpipe (software GL) waits
# for the drawing still queued: 25-90 ms per upload at 1080p against 0.15 ms/frame (docs/bench.md)
UPLOAD_BY_CREATE = os.environ.get("OBS_FACESWAP_UPLOAD", "create") != "dynamic"


@dataclass
class Staged:
    """What a staging surface holds: the rectangle of the frame and the size it was drawn at."""

    rect: Rect
    width: int
    height: int
    frame: tuple[int, int]
    stamp: int


class Readback:
    """One kind of read-back (the downscaled frame, or the crop), pipelined over frames so neither a
    GPU nor a lazy software renderer ever waits: frame N draws into one of two texrenders, frame
    N+1 stages it (its drawing was finished with frame N) and frame N+2 maps the staging surface.
    Staging in the frame that draws costs llvmpipe (software OpenGL) about twice as much: it must
    first finish all drawing queued so far (issue 19, docs/bench.md)."""

    def __init__(self, lib: libobs.LibObs) -> None:
        self.lib = lib
        self.texrenders: list[int | None] = [None, None]
        self.rendered: list[Staged | None] = [None, None]  # what each texrender holds, not yet staged
        self.stages: list[int | None] = [None, None]
        self.sizes: list[tuple[int, int]] = [(0, 0), (0, 0)]
        self.staged: list[Staged | None] = [None, None]
        self.index = 0
        # made once: no ctypes objects are created per frame on the graphics thread
        self._clear = (C.c_float * 4)(0.0, 0.0, 0.0, 0.0)
        self._clear_ptr = C.addressof(self._clear)
        self._ptr, self._linesize = C.c_void_p(), C.c_uint32()
        self._ptr_ref, self._linesize_ref = C.byref(self._ptr), C.byref(self._linesize)

    @property
    def texrender(self) -> bool:
        return any(self.texrenders)

    def free(self) -> None:
        lib = self.lib
        for tr in self.texrenders:
            if tr:
                lib.gs_texrender_destroy(tr)
        for stage in self.stages:
            if stage:
                lib.gs_stagesurface_destroy(stage)
        self.texrenders, self.rendered = [None, None], [None, None]
        self.stages, self.sizes, self.staged = [None, None], [(0, 0), (0, 0)], [None, None]

    def render(self, draw: Callable[[], None], info: Staged) -> bool:
        """Draw ``draw()`` (the source at its own size) with ``info.rect`` of it filling an
        ``info.width`` x ``info.height`` texture."""
        lib, cur = self.lib, self.index
        self.rendered[cur] = None
        if not self.texrenders[cur]:
            self.texrenders[cur] = lib.gs_texrender_create(libobs.GS_BGRA, libobs.GS_ZS_NONE)
        tr = self.texrenders[cur]
        lib.gs_texrender_reset(tr)
        if not lib.gs_texrender_begin(tr, info.width, info.height):
            return False
        lib.gs_clear(libobs.GS_CLEAR_COLOR, self._clear_ptr, 0.0, 0)
        r = info.rect
        lib.gs_ortho(float(r.x), float(r.x + r.w), float(r.y), float(r.y + r.h), -100.0, 100.0)
        lib.gs_blend_state_push()
        lib.gs_blend_function(libobs.GS_BLEND_ONE, libobs.GS_BLEND_ZERO)
        draw()
        lib.gs_blend_state_pop()
        lib.gs_texrender_end(tr)
        self.rendered[cur] = info
        return True

    def skip(self) -> None:
        """Nothing drawn this frame (e.g. no crop wanted)."""
        self.rendered[self.index] = None

    def stage_previous(self) -> None:
        """Stage what the previous frame drew (call before ``render``)."""
        lib, source, into = self.lib, self.index ^ 1, self.index
        info, self.rendered[source] = self.rendered[source], None
        self.staged[into] = info
        if info is None or not self.texrenders[source]:
            return
        size = (info.width, info.height)
        if self.sizes[into] != size or not self.stages[into]:
            if self.stages[into]:
                lib.gs_stagesurface_destroy(self.stages[into])
            self.stages[into] = lib.gs_stagesurface_create(info.width, info.height, libobs.GS_BGRA)
            self.sizes[into] = size
        if not self.stages[into]:
            self.staged[into] = None
            return
        lib.gs_stage_texture(self.stages[into], lib.gs_texrender_get_texture(self.texrenders[source]))

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
        ptr, linesize = self._ptr, self._linesize
        ptr.value, linesize.value = None, 0
        if not self.lib.gs_stagesurface_map(stage, self._ptr_ref, self._linesize_ref):
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


class UploadTextures:
    """Two textures used in turn for uploads, so an upload never touches the texture the previous
    frame drew. By default each upload makes a new static texture with the pixels (packed rows,
    ``gs_texture_create``) and frees the older one: mapping a ``GS_DYNAMIC`` texture's buffer
    (``gs_texture_set_image``, ``OBS_FACESWAP_UPLOAD=dynamic``) makes a lazy renderer like llvmpipe
    first finish everything queued (measured: 25-90 ms per upload at 1080p)."""

    def __init__(self, lib: libobs.LibObs) -> None:
        self.lib = lib
        self.textures: list[int | None] = [None, None]
        self.sizes: list[tuple[int, int]] = [(0, 0), (0, 0)]
        self.index = 0
        self.valid = False  # the current texture holds an upload
        self._pack = C.create_string_buffer(0)  # UPLOAD_BY_CREATE: the rows packed
        self._levels = (C.c_void_p * 1)()

    def _create(self, i: int, address: int, stride: int, w: int, h: int) -> None:
        """A new static texture made with the pixels (no map of a dynamic texture's buffer)."""
        lib, row = self.lib, w * 4
        if len(self._pack) < row * h:
            self._pack = C.create_string_buffer(row * h)
            self._levels[0] = C.addressof(self._pack)
        copy_plane(C.addressof(self._pack), row, address, stride, row, h)
        if self.textures[i]:
            lib.gs_texture_destroy(self.textures[i])
        self.textures[i] = lib.gs_texture_create(w, h, libobs.GS_BGRA, 1, C.addressof(self._levels), 0)
        self.sizes[i] = (w, h)
        self.index, self.valid = i, bool(self.textures[i])

    def free(self) -> None:
        for tex in self.textures:
            if tex:
                self.lib.gs_texture_destroy(tex)
        self.textures, self.sizes, self.valid = [None, None], [(0, 0), (0, 0)], False

    @property
    def size(self) -> tuple[int, int]:
        return self.sizes[self.index] if self.valid else (0, 0)

    @property
    def current(self) -> int | None:
        return self.textures[self.index] if self.valid else None

    def upload(self, address: int, stride: int, w: int, h: int) -> None:
        """``h`` rows of ``w`` BGRA pixels, ``stride`` bytes apart, into the other texture (made current)."""
        lib, i = self.lib, self.index ^ 1
        if UPLOAD_BY_CREATE:
            self._create(i, address, stride, w, h)
            return
        if self.sizes[i] != (w, h) or not self.textures[i]:
            if self.textures[i]:
                lib.gs_texture_destroy(self.textures[i])
            self.textures[i] = lib.gs_texture_create(w, h, libobs.GS_BGRA, 1, None, libobs.GS_DYNAMIC)
            self.sizes[i] = (w, h)
        if not self.textures[i]:
            self.valid = False
            return
        lib.gs_texture_set_image(self.textures[i], address, stride, False)
        self.index, self.valid = i, True
