"""What turns a camera frame into a swapped one in live mode.

``InProcessProcessor`` runs the face pipeline (the same ``FacePipeline`` the OBS worker uses)
in this process; by default ``make_processor`` picks the worker path instead (the same worker
process OBS talks to, over shared memory, ``worker_processor.py``); ``--in-process`` forces this one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.types import Frame


class Processor(Protocol):
    name: str
    last_error: str

    def process(self, frame: Frame) -> Frame: ...

    def update(self, settings: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class InProcessProcessor:
    """The face pipeline (``FacePipeline(options, live=True)``) called directly."""

    name = "in-process"

    def __init__(self, options: FaceOptions) -> None:
        self._pipeline = FacePipeline(options, live=True)
        self.last_error = ""
        self.process_ms = 0.0

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self._pipeline.stats)

    def process(self, frame: Frame) -> Frame:
        t = time.perf_counter()
        out = self._pipeline.process(frame)
        self.process_ms = (time.perf_counter() - t) * 1000.0
        self.last_error = self._pipeline.last_error
        return out

    def update(self, settings: Mapping[str, Any]) -> None:
        """A change from the preview's keys: validated here, once."""
        self._pipeline.update(self._pipeline.options.with_changes(settings))

    def close(self) -> None:
        """Nothing to release: the pipeline's sessions go with it (the session cache holds them weakly)."""


def make_processor(options: FaceOptions, *, in_process: bool = False) -> Processor:
    """The processor live mode uses: the worker, unless ``in_process``."""
    if not in_process:
        from obs_faceswap.live.worker_processor import WorkerProcessor

        return WorkerProcessor(options.as_settings())  # the worker validates what it receives
    return InProcessProcessor(options)
