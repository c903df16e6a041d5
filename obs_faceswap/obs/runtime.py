"""Process-wide state of the OBS side: the registry every ctypes callback and struct lives in.

libobs keeps raw pointers to our ``obs_source_info`` structs and callbacks for the life of the
process (source types cannot be unregistered), while OBS drops the script module on unload and
reload. Everything C can reach is therefore stored in one dict hung off ``sys``, which lives
until the interpreter ends, and filter kinds are registered once per process.
"""

from __future__ import annotations

import ctypes
import itertools
import sys
import threading
from typing import Any

from . import libobs

_KEY = "_obs_faceswap_runtime"

STATE: dict[str, Any] = sys.__dict__.setdefault(
    _KEY,
    {
        "keep": [],  # ctypes structs, callbacks and strings that C holds pointers to
        "registered": set(),  # filter ids registered in this process
        "instances": {},  # opaque int handed to OBS as the filter's `data` -> Python object
        "ids": itertools.count(1),
        "lock": threading.Lock(),
        "logged_once": set(),
    },
)

PREFIX = "[obs-faceswap] "


def log(message: str, level: int = libobs.LOG_INFO) -> None:
    """Write one line to the OBS log (falls back to stderr outside OBS)."""
    text = PREFIX + message
    try:
        import obspython  # type: ignore[import-not-found]  # only inside OBS

        obspython.blog(level, text)
        return
    except Exception:  # noqa: BLE001  (outside OBS, or before obspython is ready)
        pass
    try:
        fn = libobs.get().dll.blog
        fn.restype = None
        fn(ctypes.c_int(level), b"%s", text.encode("utf-8", "replace"))
    except Exception:  # noqa: BLE001
        print(text, file=sys.stderr)


def log_once(key: str, message: str, level: int = libobs.LOG_WARNING) -> None:
    """Log ``message`` the first time ``key`` is seen in this process (failures repeat per frame)."""
    if key in STATE["logged_once"]:
        return
    STATE["logged_once"].add(key)
    log(message, level)


def keep(*objects: Any) -> None:
    """Keep ``objects`` alive for the life of the process."""
    STATE["keep"].extend(objects)


def add_instance(obj: Any) -> int:
    with STATE["lock"]:
        handle = next(STATE["ids"])
        STATE["instances"][handle] = obj
    return handle


def get_instance(handle: int | None) -> Any:
    return STATE["instances"].get(handle) if handle else None


def pop_instance(handle: int | None) -> Any:
    with STATE["lock"]:
        return STATE["instances"].pop(handle, None) if handle else None


