"""Register the filter kinds with libobs, once per process, after checking the struct layouts."""

from __future__ import annotations

import ctypes as C
from types import ModuleType

from . import face_swap_async_filter, face_swap_filter, libobs, runtime, voice_clone_filter

FILTERS: tuple[ModuleType, ...] = (face_swap_filter, face_swap_async_filter, voice_clone_filter)


def _register_one(lib: libobs.LibObs, module: ModuleType) -> None:
    fid: bytes = module.FILTER_ID
    names = runtime.STATE.setdefault("names", {})
    names[fid] = C.create_string_buffer(module.DISPLAY_NAME)
    info = libobs.obs_source_info()
    info.id = fid
    info.type = libobs.OBS_SOURCE_TYPE_FILTER
    info.output_flags = module.OUTPUT_FLAGS
    for field, callback in module.CALLBACKS.items():
        setattr(info, field, C.cast(callback, C.c_void_p).value)
    runtime.keep(info, fid, *module.CALLBACKS.values())
    lib.obs_register_source_s(C.addressof(info), C.sizeof(info))
    runtime.STATE["registered"].add(fid)


def register_all() -> str:
    """Register every filter kind not yet registered in this process.

    Returns "" on success, else the reason nothing was registered (also logged as an error).
    """
    try:
        lib = libobs.get()
    except OSError as exc:
        runtime.log(f"cannot load libobs: {exc}", libobs.LOG_ERROR)
        return str(exc)
    version = lib.version()
    refusal = libobs.check_layout(version)
    if refusal:
        runtime.log(f"filters NOT registered: {refusal}", libobs.LOG_ERROR)
        return refusal
    for module in FILTERS:
        if module.FILTER_ID in runtime.STATE["registered"]:
            continue
        _register_one(lib, module)
        runtime.log(f"registered filter {module.FILTER_ID.decode()} ({module.DISPLAY_NAME.decode()}) "
                    f"for OBS {'.'.join(map(str, version))}")
    return ""
