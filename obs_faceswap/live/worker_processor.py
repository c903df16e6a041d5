"""Live frames through the worker process: the same worker, transport and pipeline OBS uses.

The worker runs with this interpreter (``sys.executable``). Each frame is handed over in shared
memory and the result waited for; when none comes in time (the worker is loading models,
restarting, or slower than ``timeout``) the input is shown unchanged, exactly like the OBS filter.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from obs_faceswap.errors import FaceSwapError, WorkerError
from obs_faceswap.vision.types import Frame

STARTUP_TIMEOUT_S = 60.0
FIRST_RESULT_TIMEOUT_S = 60.0  # models load when the channel opens
RESULT_TIMEOUT_S = 2.0


def worker_supported() -> bool:
    try:
        from obs_faceswap.ipc.client import WorkerClient  # noqa: F401
    except ImportError:
        return False
    return True


class WorkerProcessor:
    name = "worker"

    def __init__(self, settings: Mapping[str, Any], *, python: str | None = None,
                 timeout: float = RESULT_TIMEOUT_S) -> None:
        from obs_faceswap.ipc.client import WorkerClient

        self.last_error = ""
        self._timeout = timeout
        self._first = True
        self.bypassed = 0
        self._client = WorkerClient(python or sys.executable, startup_timeout=STARTUP_TIMEOUT_S).start()
        if not self._client.wait_ready(STARTUP_TIMEOUT_S):
            status = self._client.status
            self._client.stop()
            raise WorkerError(f"the worker did not start ({status}); try --in-process to see the error directly")
        self._channel = self._client.open_video(dict(settings), processor="face")

    @property
    def stats(self) -> dict[str, Any]:
        return dict(self._channel.stats)

    def process(self, frame: Frame) -> Frame:
        h, w = frame.shape[:2]
        data = np.ascontiguousarray(frame)
        buf = memoryview(data).cast("B")
        if self._first:
            # the worker attaches the channel's memory after the first submit announced it, and
            # loads the models: hand the frame over again until the first result arrives
            deadline = time.monotonic() + FIRST_RESULT_TIMEOUT_S
            view = None
            while view is None and time.monotonic() < deadline:
                if self._channel.last_error:  # unusable settings (e.g. no face in the source photo)
                    raise FaceSwapError(self._channel.last_error)
                if self._channel.submit(buf, w, h, w * 3, "BGR"):
                    view = self._channel.wait_result(0.5)
                else:
                    time.sleep(0.05)
        elif self._channel.submit(buf, w, h, w * 3, "BGR"):
            # while the worker reports an error it may return nothing: do not stall the preview
            view = self._channel.wait_result(0.1 if self._channel.last_error else self._timeout)
        else:
            view = None
        if view is None:
            return self._bypass(frame)
        self._first = False
        try:
            rows = np.frombuffer(view.planes[0], np.uint8).reshape(view.height, view.stride)
            out = rows[:, : view.width * 3].reshape(view.height, view.width, 3).copy()
        finally:
            self._channel.release()
        self.last_error = str(self._channel.last_error or "")
        return out

    def _bypass(self, frame: Frame) -> Frame:
        self.bypassed += 1
        self.last_error = str(self._channel.last_error or "") or f"worker: {self._client.status}"
        return frame

    def update(self, settings: Mapping[str, Any]) -> None:
        self._channel.update(dict(settings))

    def close(self) -> None:
        try:
            self._channel.close()
        finally:
            self._client.stop()
