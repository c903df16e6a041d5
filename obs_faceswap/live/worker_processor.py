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
        if not self._channel.submit(memoryview(data).cast("B"), w, h, w * 3, "BGR"):
            return self._bypass(frame)
        seq = self._channel.submitted_seq  # wait for the result of this very frame, not an older one
        if self._first:
            view = self._first_result(seq)
        else:
            # while the worker passes through (unusable settings) it returns nothing: do not stall
            view = self._channel.wait_result(0.1 if self._passing_through() else self._timeout, seq)
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

    def _passing_through(self) -> bool:
        return bool(self._channel.last_error) and bool(self._channel.stats.get("passing_through", True))

    def _first_result(self, seq: int) -> Any:
        """The first frame waits while the worker attaches the channel and loads the models; settings
        that cannot work at all (e.g. no face in the source photo) stop the command instead."""
        deadline = time.monotonic() + FIRST_RESULT_TIMEOUT_S
        while time.monotonic() < deadline:
            view = self._channel.wait_result(0.25, seq)
            if view is not None:
                return view
            if self._channel.last_error:  # the worker never had usable settings
                raise FaceSwapError(self._channel.last_error)
            if not self._client.running and self._client.restarts:
                break
        return None

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
