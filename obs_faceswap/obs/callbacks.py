"""The C callbacks every filter kind shares, made once per kind from its Python class.

Each callback catches everything: an exception escaping a ctypes callback is printed to stderr
and the C side gets a zero (NULL), which OBS may misread (NULL from ``filter_video`` means "I
kept the frame"). Failures are logged once with the filter's name.
"""

from __future__ import annotations

import ctypes as C
from collections.abc import Callable
from typing import Any

from ..settings import Schema
from . import libobs, properties, runtime


def make(filter_id: bytes, label: str, schema: Schema, factory: Callable[[libobs.LibObs, int, dict[str, Any]], Any]
         ) -> dict[str, Any]:
    """get_name/create/destroy/update/get_defaults/get_properties/video_tick for one filter kind.

    ``factory(lib, source, settings)`` makes the filter object; it must have ``lib``,
    ``update(settings)``, ``tick()`` and ``destroy()``.
    """

    @libobs.GET_NAME
    def get_name(_type_data: int) -> int:
        return C.addressof(runtime.STATE["names"][filter_id])

    @libobs.CREATE
    def create(settings: int, source: int) -> int | None:
        try:
            lib = libobs.get()
            return runtime.add_instance(factory(lib, source, properties.read(lib, settings, schema)))
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"{label}: create failed: {exc!r}", libobs.LOG_ERROR)
            return None

    @libobs.DESTROY
    def destroy(data: int) -> None:
        f = runtime.pop_instance(data)
        if f is not None:
            try:
                f.destroy()
            except Exception as exc:  # noqa: BLE001
                runtime.log(f"{label}: destroy failed: {exc!r}", libobs.LOG_ERROR)

    @libobs.UPDATE
    def update(data: int, settings: int) -> None:
        f = runtime.get_instance(data)
        if f is not None:
            try:
                f.update(properties.read(f.lib, settings, schema))
            except Exception as exc:  # noqa: BLE001
                runtime.log(f"{label}: settings not applied: {exc!r}", libobs.LOG_ERROR)

    @libobs.GET_DEFAULTS
    def get_defaults(settings: int) -> None:
        try:
            properties.set_defaults(libobs.get(), settings, schema)
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"{label}: defaults failed: {exc!r}", libobs.LOG_ERROR)

    @libobs.GET_PROPERTIES
    def get_properties(_data: int) -> int | None:
        try:
            return properties.build(libobs.get(), schema)
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"{label}: properties failed: {exc!r}", libobs.LOG_ERROR)
            return None

    @libobs.VIDEO_TICK
    def video_tick(data: int, _seconds: float) -> None:
        f = runtime.get_instance(data)
        if f is not None:
            try:
                f.tick()
            except Exception as exc:  # noqa: BLE001
                runtime.log_once(f"{label} tick {exc}", f"{label}: status failed: {exc!r}")

    return {"get_name": get_name, "create": create, "destroy": destroy, "update": update,
            "get_defaults": get_defaults, "get_properties": get_properties, "video_tick": video_tick}
