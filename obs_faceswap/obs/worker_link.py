"""The OBS side's link to the one worker process shared by every filter instance.

OBS never waits on the worker: ``WorkerClient`` (``obs_faceswap.ipc``) starts and supervises it
from background threads, and a filter whose worker is not running (starting, crashed, not
installed) bypasses. The worker interpreter
is found, in order, from: the path set in the script's own properties (an explicit choice wins),
the installer's config (``obs_faceswap.config``: ``$OBS_FACESWAP_CONFIG`` or the per-user
``config.json``, key ``python``), and a ``.venv`` at the project root beside the package.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import libobs, runtime

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RETRY_S = 2.0  # how often a filter without a worker looks for one again


def venv_python(root: Path) -> Path:
    if sys.platform.startswith("win"):
        return root / ".venv" / "Scripts" / "python.exe"
    return root / ".venv" / "bin" / "python"


def find_worker_python(user_path: str = "") -> tuple[str | None, str]:
    """(interpreter, where it came from) or (None, what to do)."""
    if user_path.strip():
        p = Path(user_path.strip()).expanduser()
        if p.is_file():
            return str(p), "script properties"
        return None, f"the worker Python set in the script's properties does not exist: {p}"
    try:
        from .. import config

        cfg_python = config.worker_python()
        where = str(config.config_path())
    except Exception as exc:  # noqa: BLE001  (a broken config must not stop OBS)
        cfg_python, where = None, f"config unreadable: {exc}"
    if cfg_python:
        if Path(cfg_python).is_file():
            return cfg_python, where
        return None, f"{where} names a worker Python that does not exist: {cfg_python}; run the installer again"
    local = venv_python(PROJECT_ROOT)
    if local.is_file():
        return str(local), "project .venv"
    return None, ("no worker Python found: run the installer (it writes " + where + "), or set "
                  "'Worker Python' in Tools > Scripts > obs-faceswap")


class RateLimit:
    """True at most once per ``period`` seconds."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            return True
        return False


class WorkerLink:
    """Owns the shared ``WorkerClient``; opens per-filter channels without blocking OBS."""

    def __init__(self) -> None:
        self.user_python = ""
        self._client_obj: Any = None
        self.error = ""
        self.python: str | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._retry = RateLimit(RETRY_S)

    def configure(self, user_python: str) -> None:
        """Called from the script's settings; a changed interpreter restarts the worker."""
        if user_python == self.user_python:
            return
        self.user_python = user_python
        self.shutdown()
        self.reopen()

    def reopen(self) -> None:
        """Allow starting a worker again (script loaded after an unload)."""
        with self._lock:
            self._closed = False
            self.error = ""

    def _client(self) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("obs-faceswap is unloading")
            if self._client_obj is not None:
                return self._client_obj
            python, where = find_worker_python(self.user_python)
            if python is None:
                raise RuntimeError(where)
            from ..ipc import WorkerClient
            runtime.log(f"starting worker with {python} (from {where})")
            self.python = python
            self.error = ""
            self._client_obj = WorkerClient(python, log=runtime.log, warm_spare=True).start()
            return self._client_obj

    def client(self) -> Any | None:
        """The running-or-starting client, or None (``error`` says why). Never blocks; after a
        failure it looks again at most every ``RETRY_S`` (this runs on every frame)."""
        if self._client_obj is None and self.error and not self._retry():
            return None
        try:
            return self._client()
        except Exception as exc:  # noqa: BLE001  (no worker: the filters bypass and show why)
            msg = str(exc) or type(exc).__name__
            if msg != self.error:
                self.error = msg
                runtime.log(f"no worker: {msg}", libobs.LOG_WARNING)
            return None

    def running(self) -> bool:
        client = self._client_obj
        return bool(client is not None and client.running)

    def shutdown(self) -> None:
        """Stop the worker and free its shared memory (script unload, OBS exit)."""
        with self._lock:
            self._closed = True
            client, self._client_obj = self._client_obj, None
        if client is not None:
            try:
                client.stop()
            except Exception as exc:  # noqa: BLE001
                runtime.log(f"worker shutdown: {exc}")


def link() -> WorkerLink:
    """The process-wide link (survives script reloads)."""
    state = runtime.STATE
    if "worker_link" not in state:
        state["worker_link"] = WorkerLink()
    return state["worker_link"]


def close_quietly(channel: Any) -> None:
    if channel is None:
        return
    try:
        channel.close()
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"channel close: {exc}")
