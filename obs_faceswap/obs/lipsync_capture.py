"""The audio a Face Swap filter's lip sync follows: a chosen OBS source's sound, copied into an audio ring.

``obs_source_add_audio_capture_callback`` hands us every block the named source outputs (after its
own filters, so the microphone after Voice Clone gives the converted voice), as planar float32 at
OBS's output rate. The callback runs on OBS's audio thread and only
copies the block, stamped with the time it arrived, into the ``in`` ring of an ``AudioRings`` segment (never blocks: a full ring drops
the block); the worker's face channel reads it (``worker/lipsync_feed.py``). A muted source gives
silence (mouth closed). The ring is ours: made here, unlinked on ``close``.
"""

from __future__ import annotations

import ctypes as C
import itertools
import threading
import time
from typing import Any

from ..ipc.audio import AudioRings
from . import libobs

RING_SECONDS = 2  # the worker reads it every frame; two seconds outlast any stall we would show anyway

# obs.h: typedef void (*obs_source_audio_capture_t)(void *param, obs_source_t *source,
#                                                    const struct audio_data *audio_data, bool muted);
# struct audio_data (media-io/audio-io.h) has the layout of obs_audio_data: data[8], frames, timestamp
AUDIO_CAPTURE = C.CFUNCTYPE(None, C.c_void_p, C.c_void_p, C.POINTER(libobs.obs_audio_data), C.c_bool)

_CAPTURES: dict[int, LipSyncCapture] = {}
_IDS = itertools.count(1)
_LOCK = threading.Lock()


@AUDIO_CAPTURE
def _on_audio(param: int | None, _source: int, audio: Any, muted: bool) -> None:
    capture = _CAPTURES.get(param or 0)
    if capture is None or not C.cast(audio, C.c_void_p).value:
        return
    try:
        capture.push(audio.contents, bool(muted))
    except Exception:  # noqa: BLE001  (never raise into OBS's audio thread; counted instead)
        capture.errors += 1


_CALLBACK = C.cast(_on_audio, C.c_void_p)  # the address OBS keeps (add and remove must match)


class LipSyncCapture:
    """The named source's audio, streamed into a ring the worker reads; ``close`` stops it."""

    def __init__(self, lib: libobs.LibObs, source_name: str, rate: int, channels: int) -> None:
        self.lib = lib
        self.source_name = source_name
        self.errors = 0
        self.blocks = 0
        source = lib.obs_get_source_by_name(source_name.encode("utf-8"))
        if not source:
            raise LookupError(f"no OBS source named {source_name!r}")
        self.source: int | None = source
        self.channels = max(1, min(8, int(channels)))
        self.rate = int(rate)
        self.ring = AudioRings.create(int(rate), self.channels, int(rate) * RING_SECONDS)
        self._silence = (C.c_float * 4096)()
        with _LOCK:
            self.key = next(_IDS)
            _CAPTURES[self.key] = self
        lib.obs_source_add_audio_capture_callback(source, _CALLBACK, C.c_void_p(self.key))

    @property
    def shm(self) -> str:
        return self.ring.name

    def push(self, ad: Any, muted: bool) -> None:
        """One block from OBS's audio thread: copied into the ring, or dropped when it is full."""
        n = int(ad.frames)
        if n <= 0:
            return
        if muted:  # the sound the viewers hear: none, so the mouth closes
            planes: list[Any] = [C.addressof(self._silence)] * self.channels if n <= len(self._silence) else []
        else:
            planes = [C.cast(ad.data[c], C.c_void_p).value for c in range(self.channels)]
        if len(planes) != self.channels or not all(planes):
            return
        # stamped with its arrival (less its length), on the frames' clock: OBS's own audio timestamps
        # proved unusable here (a looping media source's were 1 s, then 88 s, behind the render time)
        self.ring.push("in", planes, n, time.monotonic_ns() - n * 1_000_000_000 // self.rate)
        self.blocks += 1

    def close(self) -> None:
        source, self.source = self.source, None
        if source:
            self.lib.obs_source_remove_audio_capture_callback(source, _CALLBACK, C.c_void_p(self.key))
            self.lib.obs_source_release(source)
        with _LOCK:
            _CAPTURES.pop(self.key, None)
        self.ring.segment.unlink()
        self.ring.close()
