"""ctypes bindings of the few libobs calls the filters use (standard library only).

``obspython`` cannot register sources, and SWIG cannot pass pixel pointers, so everything that
registers a filter kind or touches pixels or samples goes through these prototypes.

Struct layouts mirror ``libobs/obs-source.h`` and ``libobs/obs.h``. ``struct obs_source_info``
only grows at its end (400 bytes at 29.x, 408 at 30.0-32.0, 424 at 32.2) and
``obs_register_source_s`` zero-fills what a smaller struct leaves out, so registering the
29.x prefix is valid on every version in ``VERIFIED_MAJORS``; other versions are refused by
``check_version`` unless ``OBS_FACESWAP_ALLOW_UNVERIFIED_OBS=1`` is set.
"""

from __future__ import annotations

import ctypes as C
import os
import sys
from typing import Any

vp = C.c_void_p
u8 = C.c_uint8
u32 = C.c_uint32
f32 = C.c_float

MAX_AV_PLANES = 8

# enum obs_source_type / output flags (obs-source.h)
OBS_SOURCE_TYPE_FILTER = 1
OBS_SOURCE_VIDEO = 1 << 0
OBS_SOURCE_AUDIO = 1 << 1
OBS_SOURCE_ASYNC = 1 << 2
OBS_SOURCE_CUSTOM_DRAW = 1 << 3

# graphics (graphics.h)
GS_RGBA = 3
GS_BGRA = 5
GS_ZS_NONE = 0
GS_DYNAMIC = 1 << 1
GS_CLEAR_COLOR = 1 << 0
GS_BLEND_ZERO = 0
GS_BLEND_ONE = 1
OBS_EFFECT_DEFAULT = 0

# logging (util/base.h)
LOG_ERROR = 100
LOG_WARNING = 200
LOG_INFO = 300

# properties (obs-properties.h)
OBS_COMBO_TYPE_LIST = 2
OBS_COMBO_FORMAT_STRING = 3
OBS_TEXT_DEFAULT = 0
OBS_TEXT_MULTILINE = 2
OBS_TEXT_INFO = 3
OBS_PATH_FILE = 0
OBS_EDITABLE_LIST_TYPE_FILES = 1
OBS_GROUP_NORMAL = 1

# obs_data item types (util/... obs-data.h)
OBS_DATA_STRING = 1
OBS_DATA_ARRAY = 5

# OBS versions whose struct layouts were checked against the headers of each tag.
VERIFIED_MAJORS = range(29, 33)
ALLOW_UNVERIFIED_ENV = "OBS_FACESWAP_ALLOW_UNVERIFIED_OBS"


# Callback slots of struct obs_source_info, in declaration order (libobs/obs-source.h, 29.0.2).
# Every slot is a function pointer; we keep them as void* and store CFUNCTYPE objects' addresses.
_CORE_CALLBACKS = (
    "get_name", "create", "destroy", "get_width", "get_height", "get_defaults", "get_properties",
    "update", "activate", "deactivate", "show", "hide", "video_tick", "video_render",
    "filter_video", "filter_audio", "enum_active_sources", "save", "load",
    "mouse_click", "mouse_move", "mouse_wheel", "focus", "key_click", "filter_remove",
    "type_data", "free_type_data",  # type_data is a plain pointer, free_type_data a callback
    "audio_render", "enum_all_sources", "transition_start", "transition_stop",
    "get_defaults2", "get_properties2", "audio_mix",
)
_MEDIA_CALLBACKS = (
    "media_play_pause", "media_restart", "media_stop", "media_next", "media_previous",
    "media_get_duration", "media_get_time", "media_set_time", "media_get_state",
)


def _pointer_fields(names: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(name, vp) for name in names]


class obs_source_info(C.Structure):  # noqa: N801  (libobs/obs-source.h @ 29.0.2, 400 bytes on 64-bit)
    _fields_ = [
        ("id", C.c_char_p),
        ("type", C.c_int),  # enum obs_source_type
        ("output_flags", u32),
        *_pointer_fields(_CORE_CALLBACKS),
        ("icon_type", C.c_int),  # enum obs_icon_type
        *_pointer_fields(_MEDIA_CALLBACKS),
        ("version", u32),
        ("unversioned_id", C.c_char_p),
        ("missing_files", vp),
        ("video_get_color_space", vp),
    ]


class obs_audio_data(C.Structure):  # noqa: N801  (libobs/obs.h)
    _fields_ = [("data", C.POINTER(f32) * MAX_AV_PLANES), ("frames", u32), ("timestamp", C.c_uint64)]


class obs_source_frame(C.Structure):  # noqa: N801  (libobs/obs.h, unchanged 29.0.2 .. 32.x)
    _fields_ = [
        ("data", C.POINTER(u8) * MAX_AV_PLANES),
        ("linesize", u32 * MAX_AV_PLANES),
        ("width", u32),
        ("height", u32),
        ("timestamp", C.c_uint64),
        ("format", C.c_int),
        ("color_matrix", f32 * 16),
        ("full_range", C.c_bool),
        ("max_luminance", C.c_uint16),
        ("color_range_min", f32 * 3),
        ("color_range_max", f32 * 3),
        ("flip", C.c_bool),
        ("flags", u8),
        ("trc", u8),
        ("refs", C.c_long),  # volatile long: 8 bytes on Linux/macOS, 4 on Windows
        ("prev_frame", C.c_bool),
    ]


EXPECTED_SIZES = {
    "obs_source_info": 400,
    "obs_audio_data": 80,
    "obs_source_frame": 224 if sys.platform.startswith("win") else 232,
}

# callback prototypes
GET_NAME = C.CFUNCTYPE(vp, vp)
CREATE = C.CFUNCTYPE(vp, vp, vp)
DESTROY = C.CFUNCTYPE(None, vp)
GET_SIZE = C.CFUNCTYPE(u32, vp)
GET_DEFAULTS = C.CFUNCTYPE(None, vp)
GET_PROPERTIES = C.CFUNCTYPE(vp, vp)
UPDATE = C.CFUNCTYPE(None, vp, vp)
VIDEO_TICK = C.CFUNCTYPE(None, vp, f32)
VIDEO_RENDER = C.CFUNCTYPE(None, vp, vp)
FILTER_AUDIO = C.CFUNCTYPE(vp, vp, C.POINTER(obs_audio_data))
FILTER_VIDEO = C.CFUNCTYPE(vp, vp, C.POINTER(obs_source_frame))


def library_candidates(platform: str | None = None) -> list[str | None]:
    """Names to try for libobs on this platform (``None`` = the running process's symbols)."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return ["obs.dll", "obs"]
    if platform == "darwin":
        return [None, "libobs.framework/libobs", "@rpath/libobs.framework/Versions/A/libobs",
                "/Applications/OBS.app/Contents/Frameworks/libobs.framework/libobs"]
    return [None, "libobs.so.0", "libobs.so"]


def _load() -> C.CDLL:
    errors: list[str] = []
    for name in library_candidates():
        try:
            lib = C.CDLL(name)
            lib.obs_register_source_s  # noqa: B018  (raises AttributeError when absent)
            return lib
        except (OSError, AttributeError) as exc:
            errors.append(f"{name or '<process>'}: {exc}")
    raise OSError("libobs not found (" + "; ".join(errors) + ")")


class LibObs:
    """The loaded library with typed prototypes as attributes (``lib.gs_draw_sprite(...)``)."""

    _PROTOS: dict[str, tuple[Any, tuple[Any, ...]]] = {
        # core
        "obs_get_version": (u32, ()),
        "obs_get_version_string": (C.c_char_p, ()),
        "obs_register_source_s": (None, (vp, C.c_size_t)),
        "obs_enter_graphics": (None, ()),
        "obs_leave_graphics": (None, ()),
        "obs_get_base_effect": (vp, (C.c_int,)),
        "obs_get_audio": (vp, ()),
        "audio_output_get_sample_rate": (u32, (vp,)),
        "audio_output_get_channels": (C.c_size_t, (vp,)),
        # sources and filters
        "obs_filter_get_target": (vp, (vp,)),
        "obs_filter_get_parent": (vp, (vp,)),
        "obs_source_get_base_width": (u32, (vp,)),
        "obs_source_get_base_height": (u32, (vp,)),
        "obs_source_get_output_flags": (u32, (vp,)),
        "obs_source_get_name": (C.c_char_p, (vp,)),
        "obs_source_skip_video_filter": (None, (vp,)),
        "obs_source_video_render": (None, (vp,)),
        "obs_source_default_render": (None, (vp,)),
        "obs_source_get_settings": (vp, (vp,)),
        "obs_source_enabled": (C.c_bool, (vp,)),
        "obs_get_source_by_name": (vp, (C.c_char_p,)),
        "obs_source_release": (None, (vp,)),
        "obs_source_add_audio_capture_callback": (None, (vp, vp, vp)),
        "obs_source_remove_audio_capture_callback": (None, (vp, vp, vp)),
        # graphics
        "gs_texrender_create": (vp, (C.c_int, C.c_int)),
        "gs_texrender_destroy": (None, (vp,)),
        "gs_texrender_reset": (None, (vp,)),
        "gs_texrender_begin": (C.c_bool, (vp, u32, u32)),
        "gs_texrender_end": (None, (vp,)),
        "gs_texrender_get_texture": (vp, (vp,)),
        "gs_stagesurface_create": (vp, (u32, u32, C.c_int)),
        "gs_stagesurface_destroy": (None, (vp,)),
        "gs_stage_texture": (None, (vp, vp)),
        "gs_stagesurface_map": (C.c_bool, (vp, C.POINTER(vp), C.POINTER(u32))),
        "gs_stagesurface_unmap": (None, (vp,)),
        "gs_texture_create": (vp, (u32, u32, C.c_int, u32, vp, u32)),
        "gs_texture_destroy": (None, (vp,)),
        "gs_texture_set_image": (None, (vp, vp, u32, C.c_bool)),
        "gs_clear": (None, (u32, vp, f32, u8)),
        "gs_ortho": (None, (f32, f32, f32, f32, f32, f32)),
        "gs_blend_state_push": (None, ()),
        "gs_blend_state_pop": (None, ()),
        "gs_blend_function": (None, (C.c_int, C.c_int)),
        "gs_effect_get_param_by_name": (vp, (vp, C.c_char_p)),
        "gs_effect_set_texture": (None, (vp, vp)),
        "gs_effect_loop": (C.c_bool, (vp, C.c_char_p)),
        "gs_draw_sprite": (None, (vp, u32, u32, u32)),
        "gs_matrix_push": (None, ()),
        "gs_matrix_pop": (None, ()),
        "gs_matrix_translate3f": (None, (f32, f32, f32)),
        # settings (obs_data)
        "obs_data_release": (None, (vp,)),
        "obs_data_get_bool": (C.c_bool, (vp, C.c_char_p)),
        "obs_data_get_int": (C.c_longlong, (vp, C.c_char_p)),
        "obs_data_get_double": (C.c_double, (vp, C.c_char_p)),
        "obs_data_get_string": (C.c_char_p, (vp, C.c_char_p)),
        "obs_data_set_string": (None, (vp, C.c_char_p, C.c_char_p)),
        "obs_data_set_default_bool": (None, (vp, C.c_char_p, C.c_bool)),
        "obs_data_set_default_int": (None, (vp, C.c_char_p, C.c_longlong)),
        "obs_data_set_default_double": (None, (vp, C.c_char_p, C.c_double)),
        "obs_data_set_default_string": (None, (vp, C.c_char_p, C.c_char_p)),
        "obs_data_item_byname": (vp, (vp, C.c_char_p)),
        "obs_data_item_gettype": (C.c_int, (vp,)),
        "obs_data_item_release": (None, (C.POINTER(vp),)),
        "obs_data_get_array": (vp, (vp, C.c_char_p)),
        "obs_data_array_count": (C.c_size_t, (vp,)),
        "obs_data_array_item": (vp, (vp, C.c_size_t)),
        "obs_data_array_release": (None, (vp,)),
        # properties
        "obs_properties_create": (vp, ()),
        "obs_properties_add_bool": (vp, (vp, C.c_char_p, C.c_char_p)),
        "obs_properties_add_int_slider": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int, C.c_int, C.c_int)),
        "obs_properties_add_float_slider": (vp, (vp, C.c_char_p, C.c_char_p, C.c_double, C.c_double,
                                                 C.c_double)),
        "obs_properties_add_text": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int)),
        "obs_properties_add_path": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int, C.c_char_p, C.c_char_p)),
        "obs_properties_add_editable_list": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int, C.c_char_p,
                                                  C.c_char_p)),
        "obs_properties_add_list": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int, C.c_int)),
        "obs_properties_add_group": (vp, (vp, C.c_char_p, C.c_char_p, C.c_int, vp)),
        "obs_property_list_add_string": (C.c_size_t, (vp, C.c_char_p, C.c_char_p)),
        "obs_property_int_set_suffix": (None, (vp, C.c_char_p)),
        "obs_property_float_set_suffix": (None, (vp, C.c_char_p)),
        "obs_property_set_long_description": (None, (vp, C.c_char_p)),
    }

    def __init__(self) -> None:
        self.dll = _load()
        for name, (restype, argtypes) in self._PROTOS.items():
            fn = getattr(self.dll, name)
            fn.restype = restype
            fn.argtypes = list(argtypes)
            setattr(self, name, fn)

    def version(self) -> tuple[int, int, int]:
        v = int(self.obs_get_version())
        return (v >> 24) & 0xFF, (v >> 16) & 0xFF, v & 0xFFFF


def struct_sizes() -> dict[str, int]:
    return {
        "obs_source_info": C.sizeof(obs_source_info),
        "obs_audio_data": C.sizeof(obs_audio_data),
        "obs_source_frame": C.sizeof(obs_source_frame),
    }


def check_layout(version: tuple[int, int, int], env: dict[str, str] | None = None) -> str:
    """Return "" when the struct layouts are known to match ``version``, else the reason to refuse."""
    env = dict(os.environ) if env is None else env
    if C.sizeof(vp) != 8:
        return "obs-faceswap needs a 64-bit OBS"
    sizes = struct_sizes()
    for name, expected in EXPECTED_SIZES.items():
        if sizes[name] != expected:
            return f"struct {name} is {sizes[name]} bytes here, expected {expected}"
    if version[0] in VERIFIED_MAJORS:
        return ""
    if env.get(ALLOW_UNVERIFIED_ENV) == "1":
        return ""
    verified = f"{VERIFIED_MAJORS.start}.x-{VERIFIED_MAJORS.stop - 1}.x"
    return (f"OBS {version[0]}.{version[1]}.{version[2]} is not a version whose libobs struct layouts "
            f"obs-faceswap has checked ({verified}); update obs-faceswap, or set "
            f"{ALLOW_UNVERIFIED_ENV}=1 to try anyway")


_LIB: LibObs | None = None


def get() -> LibObs:
    """The process-wide bindings (loaded on first use)."""
    global _LIB
    if _LIB is None:
        _LIB = LibObs()
    return _LIB
