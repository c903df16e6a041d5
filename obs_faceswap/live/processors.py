"""What turns a camera frame into a swapped one in live mode.

``InProcessProcessor`` runs the face pipeline (the same ``FacePipeline`` the OBS worker uses)
in this process. The worker path (the same worker process OBS talks to, over shared memory)
is used when the worker client is installed; ``--in-process`` forces the direct path.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping
from typing import Any, Protocol

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.vision.types import Frame


class Processor(Protocol):
    name: str
    last_error: str

    def process(self, frame: Frame) -> Frame: ...

    def update(self, settings: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class InProcessProcessor:
    """``FacePipeline(settings, live=True)`` called directly."""

    name = "in-process"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        try:
            pipeline_mod = importlib.import_module("obs_faceswap.vision.pipeline")
        except ImportError as exc:
            raise FaceSwapError(f"the face pipeline is not available in this installation ({exc}); "
                                "reinstall obs-faceswap") from None
        self._pipeline = pipeline_mod.FacePipeline(dict(settings), live=True)
        self.last_error = ""
        self.process_ms = 0.0

    @property
    def stats(self) -> dict[str, Any]:
        return dict(getattr(self._pipeline, "stats", {}) or {})

    def process(self, frame: Frame) -> Frame:
        t = time.perf_counter()
        out = self._pipeline.process(frame)
        self.process_ms = (time.perf_counter() - t) * 1000.0
        self.last_error = str(getattr(self._pipeline, "last_error", "") or "")
        return out

    def update(self, settings: Mapping[str, Any]) -> None:
        self._pipeline.update(dict(settings))

    def close(self) -> None:
        close = getattr(self._pipeline, "close", None)
        if callable(close):
            close()


def worker_client_class() -> Any | None:
    """The worker client class when the worker transport is installed, else None."""
    for mod_name in ("obs_faceswap.ipc.client", "obs_faceswap.worker.client", "obs_faceswap.ipc"):
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        cls = getattr(mod, "WorkerClient", None)
        if cls is not None:
            return cls
    return None


def make_processor(settings: Mapping[str, Any], *, in_process: bool = False) -> Processor:
    """The processor live mode uses: the worker when available (unless ``in_process``), else in-process."""
    if not in_process:
        from obs_faceswap.live.worker_processor import WorkerProcessor, worker_supported

        if worker_supported():
            return WorkerProcessor(settings)
    return InProcessProcessor(settings)
