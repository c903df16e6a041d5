"""Property panels, defaults and settings read-back, all built from the settings schema.

One place maps a schema kind to an OBS widget, so the Face Swap and Voice Clone panels show every
setting of ``FACE_SETTINGS`` / ``VOICE_SETTINGS`` under the schema's own names (the public keys
obs-websocket clients use). A read-only ``status`` line sits on top of each panel.
"""

from __future__ import annotations

import ctypes as C
from typing import Any

from ..settings import BOOL, CHOICE, FLOAT, INT, PATH, PATHS, Schema, Setting
from . import libobs

STATUS_KEY = "status"

IMAGE_FILTER = b"Images (*.png *.jpg *.jpeg *.webp *.bmp);;All files (*.*)"
MODEL_FILTER = b"Models (*.onnx *.pth);;All files (*.*)"  # RVC .onnx, OpenVoice checkpoint.pth
AUDIO_FILTER = b"Audio (*.wav *.flac *.mp3 *.ogg);;All files (*.*)"


def _b(text: str) -> bytes:
    return text.encode("utf-8")


def _file_filter(setting: Setting) -> bytes:
    if "model" in setting.name:
        return MODEL_FILTER
    if "voice" in setting.name:
        return AUDIO_FILTER
    return IMAGE_FILTER


def _slider(s: Setting) -> tuple[float, float, float]:
    """A numeric setting's slider: its range and step as the schema declares them (the one place)."""
    if s.minimum is None or s.maximum is None or s.step is None:
        raise ValueError(f"setting {s.name!r} needs a minimum, maximum and step for its slider")
    return float(s.minimum), float(s.maximum), float(s.step)


def add_setting(lib: libobs.LibObs, props: int, s: Setting) -> int:
    """Add the widget for one setting to ``props``; returns the obs_property_t pointer."""
    name, label = _b(s.name), _b(s.label)
    if s.kind == BOOL:
        prop = lib.obs_properties_add_bool(props, name, label)
    elif s.kind == INT:
        lo, hi, step = _slider(s)
        prop = lib.obs_properties_add_int_slider(props, name, label, int(lo), int(hi), int(step))
        if s.suffix:
            lib.obs_property_int_set_suffix(prop, _b(s.suffix))
    elif s.kind == FLOAT:
        lo, hi, step = _slider(s)
        prop = lib.obs_properties_add_float_slider(props, name, label, lo, hi, step)
        if s.suffix:
            lib.obs_property_float_set_suffix(prop, _b(s.suffix))
    elif s.kind == CHOICE:
        prop = lib.obs_properties_add_list(props, name, label, libobs.OBS_COMBO_TYPE_LIST,
                                           libobs.OBS_COMBO_FORMAT_STRING)
        for value, choice_label in s.choices:
            lib.obs_property_list_add_string(prop, _b(choice_label), _b(value))
    elif s.kind == PATH:
        prop = lib.obs_properties_add_path(props, name, label, libobs.OBS_PATH_FILE, _file_filter(s), None)
    elif s.kind == PATHS:
        prop = lib.obs_properties_add_editable_list(props, name, label, libobs.OBS_EDITABLE_LIST_TYPE_FILES,
                                                    _file_filter(s), None)
    else:
        prop = lib.obs_properties_add_text(props, name, label,
                                           libobs.OBS_TEXT_MULTILINE if s.multiline else libobs.OBS_TEXT_DEFAULT)
    if prop and s.help:
        lib.obs_property_set_long_description(prop, _b(s.help))
    return prop


def build(lib: libobs.LibObs, schema: Schema) -> int:
    """A new obs_properties_t with a status line and one group per schema group."""
    props = lib.obs_properties_create()
    lib.obs_properties_add_text(props, _b(STATUS_KEY), b"Status", libobs.OBS_TEXT_INFO)
    groups: dict[str, list[Setting]] = {}
    for s in schema.settings:
        groups.setdefault(s.group or "Settings", []).append(s)
    for group, members in groups.items():
        sub = lib.obs_properties_create()
        for s in members:
            add_setting(lib, sub, s)
        lib.obs_properties_add_group(props, _b("group_" + group.lower()), _b(group), libobs.OBS_GROUP_NORMAL, sub)
    return props


def set_defaults(lib: libobs.LibObs, data: int, schema: Schema) -> None:
    for s in schema.settings:
        name = _b(s.name)
        if s.kind == BOOL:
            lib.obs_data_set_default_bool(data, name, bool(s.default))
        elif s.kind == INT:
            lib.obs_data_set_default_int(data, name, int(s.default))
        elif s.kind == FLOAT:
            lib.obs_data_set_default_double(data, name, float(s.default))
        elif s.kind == PATHS:
            continue  # an editable list has no default value; empty means "not set"
        else:
            lib.obs_data_set_default_string(data, name, _b(str(s.default)))


def _get_paths(lib: libobs.LibObs, data: int, name: bytes) -> str:
    """A PATHS setting: the panel stores an array of {"value": path}, websocket users a string."""
    item = lib.obs_data_item_byname(data, name)
    if not item:
        return ""
    kind = lib.obs_data_item_gettype(item)
    handle = C.c_void_p(item)
    lib.obs_data_item_release(C.byref(handle))
    if kind == libobs.OBS_DATA_STRING:
        return (lib.obs_data_get_string(data, name) or b"").decode("utf-8", "replace")
    if kind != libobs.OBS_DATA_ARRAY:
        return ""
    arr = lib.obs_data_get_array(data, name)
    if not arr:
        return ""
    values: list[str] = []
    try:
        for i in range(lib.obs_data_array_count(arr)):
            obj = lib.obs_data_array_item(arr, i)
            if obj:
                value = (lib.obs_data_get_string(obj, b"value") or b"").decode("utf-8", "replace")
                lib.obs_data_release(obj)
                if value:
                    values.append(value)
    finally:
        lib.obs_data_array_release(arr)
    return ";".join(values)


def read(lib: libobs.LibObs, data: int, schema: Schema) -> dict[str, Any]:
    """Every schema setting from an obs_data_t as OBS's typed getters give it (defaults apply where unset).

    Not validated here: the worker validates every change once and reports a bad value in this
    panel's status line (its channel keeps running with the previous settings)."""
    raw: dict[str, Any] = {}
    for s in schema.settings:
        name = _b(s.name)
        if s.kind == BOOL:
            raw[s.name] = bool(lib.obs_data_get_bool(data, name))
        elif s.kind == INT:
            raw[s.name] = int(lib.obs_data_get_int(data, name))
        elif s.kind == FLOAT:
            raw[s.name] = float(lib.obs_data_get_double(data, name))
        elif s.kind == PATHS:
            raw[s.name] = _get_paths(lib, data, name)
        else:
            raw[s.name] = (lib.obs_data_get_string(data, name) or b"").decode("utf-8", "replace")
    return raw


def write_status(lib: libobs.LibObs, source: int, text: str) -> None:
    """Show ``text`` in the panel's status line (and to websocket clients as settings["status"])."""
    data = lib.obs_source_get_settings(source)
    if data:
        lib.obs_data_set_string(data, _b(STATUS_KEY), _b(text))
        lib.obs_data_release(data)
