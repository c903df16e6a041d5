"""The client the OBS filters and the live mode use to talk to the worker (standard library only).

Everything on the per-frame path (``VideoChannel.submit/result``, ``AudioChannel.push/pull``)
never blocks and never raises for a missing worker: it returns False / None and the caller
passes its input through (bypass). The channel classes live in ``obs_faceswap.ipc.client_channels``
and are re-exported here.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from obs_faceswap.ipc import frames
from obs_faceswap.ipc.client_channels import (
    AUDIO_PROCESSORS,
    VIDEO_PROCESSORS,
    AudioChannel,
    VideoChannel,
    _ChannelBase,
)
from obs_faceswap.ipc.supervisor import LogFn, Supervisor

__all__ = ["AUDIO_PROCESSORS", "VIDEO_PROCESSORS", "AudioChannel", "VideoChannel", "WorkerClient"]


class WorkerClient:
    """Starts and supervises one worker process and multiplexes channels over it.

    ``python``: the interpreter that has obs_faceswap and its dependencies (the installer's venv).
    ``log``: called with one line per event (start, crash, restart, errors), from a background thread.
    ``warm_spare``: keep a second worker process started (interpreter up, engines imported) that takes
    over at once when the worker dies (OBS: the picture is swapped again within about a second).
    ``env``: environment for the worker (default: ours). ``max_result_age``: seconds after which a
    result is too old to show.
    """

    def __init__(self, python: str, *, log: LogFn | None = None, env: Mapping[str, str] | None = None,
                 startup_timeout: float = 30.0, heartbeat_interval: float = 0.5, hang_timeout: float = 10.0,
                 max_result_age: float = 0.5, log_path: str | None = None,
                 worker_args: Sequence[str] = (), warm_spare: bool = False) -> None:
        self.max_result_age = max_result_age
        self._channels: dict[int, _ChannelBase] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self._supervisor = Supervisor(
            python, on_connected=self._on_connected, on_message=self._on_message, on_lost=self._on_lost,
            log=log, env=env, startup_timeout=startup_timeout, heartbeat_interval=heartbeat_interval,
            hang_timeout=hang_timeout, log_path=log_path, worker_args=tuple(worker_args), warm_spare=warm_spare)
        self.log: Callable[[str], None] = self._supervisor.log

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> WorkerClient:
        """Start the worker in the background; returns at once (``running`` turns True when ready)."""
        self._supervisor.start()
        return self

    def stop(self) -> None:
        """Close every channel (unlinking their segments), shut the worker down, remove the socket."""
        for ch in list(self._channels.values()):
            ch.close()
        self._supervisor.stop()

    def __enter__(self) -> WorkerClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float) -> bool:
        """Block up to ``timeout`` s until the worker is running (not for OBS callbacks)."""
        deadline = time.monotonic() + timeout
        while not self.running and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.running

    @property
    def running(self) -> bool:
        return self._supervisor.connected

    @property
    def status(self) -> str:
        """'worker running', 'starting worker', or why it is not running and when it restarts."""
        return self._supervisor.status

    @property
    def worker_pid(self) -> int | None:
        return self._supervisor.worker_pid if self.running else None

    @property
    def restarts(self) -> int:
        return self._supervisor.restarts

    @property
    def log_path(self) -> str:
        return self._supervisor.log_path

    # -- channels -------------------------------------------------------------------------------
    def open_video(self, settings: Mapping[str, Any] | None = None, *, processor: str = "face",
                   slots: int = frames.DEFAULT_SLOTS, capacity: int = 0) -> VideoChannel:
        """A new video channel. ``processor``: 'face' (FacePipeline) or a test processor 'noop',
        'invert', 'standin'. The segment is made (or grown) at the first ``submit``, or now when
        ``capacity`` (bytes per frame) is given."""
        if processor not in VIDEO_PROCESSORS:
            raise ValueError(f"unknown video processor {processor!r}; use one of {', '.join(VIDEO_PROCESSORS)}")
        ch = VideoChannel(self, next(self._ids), settings or {}, processor, slots=slots, capacity=capacity)
        with self._lock:
            self._channels[ch.id] = ch
        if ch._chan is not None:
            self._post(ch._open_message())
        return ch

    def open_audio(self, sample_rate: int, channels: int, settings: Mapping[str, Any] | None = None, *,
                   processor: str = "voice", capacity_ms: int = 2000) -> AudioChannel:
        """A new audio channel (planar float32, ``channels`` planes). ``processor``: 'voice' or 'noop'."""
        if processor not in AUDIO_PROCESSORS:
            raise ValueError(f"unknown audio processor {processor!r}; use one of {', '.join(AUDIO_PROCESSORS)}")
        ch = AudioChannel(self, next(self._ids), sample_rate, channels, settings or {}, processor, capacity_ms)
        with self._lock:
            self._channels[ch.id] = ch
        if ch._ring is not None:  # else it passes through until shared memory has room (see push)
            self._post(ch._open_message())
        return ch

    @property
    def channels(self) -> list[_ChannelBase]:
        return list(self._channels.values())

    # -- plumbing -------------------------------------------------------------------------------
    def _post(self, msg: dict[str, Any]) -> None:
        if self.running:
            self._supervisor.post(msg)
        # when not running, _on_connected re-sends every channel's full state

    def _forget(self, ch: _ChannelBase) -> None:
        with self._lock:
            self._channels.pop(ch.id, None)

    def _on_connected(self) -> None:
        # drop queued messages: the new worker gets each channel's full state instead (the sender
        # thread drops those of the previous connection by itself; this covers ones queued during set-up)
        self._supervisor.drop_queued_messages()
        for ch in list(self._channels.values()):
            if (isinstance(ch, VideoChannel) and ch._chan is None) or (isinstance(ch, AudioChannel)
                                                                         and ch._ring is None):
                continue
            self._supervisor.post(ch._open_message())

    def _on_lost(self, reason: str) -> None:
        for ch in list(self._channels.values()):
            ch._worker_lost()
            ch.worker_stats = {}
            ch._event.set()

    def _on_message(self, msg: dict[str, Any] | int) -> None:
        if isinstance(msg, int):
            ch = self._channels.get(msg)
            if ch is not None:
                ch._event.set()
            return
        kind = msg.get("type")
        if kind == "stats":
            for key, st in (msg.get("channels") or {}).items():
                ch = self._channels.get(int(key))
                if ch is not None and isinstance(st, dict):
                    ch._handle_stats(st)
        elif kind == "error":
            text = str(msg.get("message", "unknown error"))
            cid = msg.get("channel")
            ch = self._channels.get(int(cid)) if isinstance(cid, int) else None
            if ch is not None:
                ch.last_error = text
            self.errors.append(text)
            del self.errors[:-20]
            self.log(f"worker error{f' (channel {cid})' if cid is not None else ''}: {text}")
        elif kind == "log":
            self.log(f"worker: {msg.get('message', '')}")
