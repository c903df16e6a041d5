"""The "Voice Clone" audio filter.

``filter_audio`` runs on the audio source's thread. Each call pushes the planar float32 block to
the worker's input ring and pulls the same number of frames from its output ring into the same
buffers; the output is stamped ``timestamp - latency``. On an underrun (worker busy, restarting
or gone) the block is the dry input delayed by the same latency, from a local delay line: the
stream never has a gap and its timestamps never jump. Until a channel is open the filter passes
audio through untouched (no latency yet).
"""

from __future__ import annotations

import ctypes as C
import os
import time
from typing import Any

from ..settings import VOICE_SETTINGS
from . import callbacks, libobs, runtime
from .delay_line import DelayLine
from .filter_base import ChannelFilter

FILTER_ID = b"obs_faceswap_audio"
DISPLAY_NAME = b"Voice Clone"
AUDIO_PROCESSOR = os.environ.get("OBS_FACESWAP_AUDIO_PROCESSOR", "voice")  # 'noop': transport check
RESET_JUMP_NS = 1_000_000_000  # a timestamp jump larger than this restarts the stream
MARGIN_MS = 20  # beyond one OBS block: time the worker gets to return a block
MAX_MARGIN_MS = 400
GROW_EVERY_S = 5.0


class VoiceCloneFilter(ChannelFilter):
    label = "Voice Clone"
    off_text = "off (passing audio through)"

    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        super().__init__(lib, source, settings)
        audio = lib.obs_get_audio()
        self.rate = int(lib.audio_output_get_sample_rate(audio)) if audio else 48000
        self.channels = int(lib.audio_output_get_channels(audio)) if audio else 2
        self.delay: DelayLine | None = None
        self.latency_frames = 0  # total delay of the output: engine latency + margin
        self.engine_frames = 0
        self.margin = 0
        self.late: list[float] = []
        self.grown_at = 0.0
        self.resync = True
        self.pushed = 0  # frames pushed / pulled since the last resync
        self.pulled = 0
        self.next_ts: int | None = None
        self.blocks = 0
        self.underruns = 0

    def open_channel(self, client: Any) -> Any:
        runtime.log(f"Voice Clone: channel opened, {self.rate} Hz x{self.channels}")
        return client.open_audio(self.rate, self.channels, dict(self.settings), processor=AUDIO_PROCESSOR)

    def _follow_latency(self, channel: Any, block: int) -> None:
        """Adopt the worker's latency once known (and when a setting changes it); sticky while the
        worker is away, so a crash does not move the timestamps. The output delay is the engine's
        latency plus a margin for the trip through the worker: one OBS block + ``MARGIN_MS`` at
        first, grown by ``_note_underrun`` when the worker keeps arriving late."""
        engine = int(round(float(channel.latency_ms) * self.rate / 1000.0))
        if engine <= 0 or engine == self.engine_frames:
            return
        if not self.margin:
            self.margin = block + int(self.rate * MARGIN_MS / 1000)
        self.engine_frames = engine
        self._set_latency(engine + self.margin)
        self.resync = True

    def _set_latency(self, total: int) -> None:
        self.latency_frames = total
        if self.delay is None:
            self.delay = DelayLine(self.channels, total, total + self.rate)
        else:
            self.delay.set_delay(total)
        runtime.log(f"Voice Clone: latency {1000.0 * total / self.rate:.1f} ms "
                    f"(engine {1000.0 * self.engine_frames / self.rate:.1f} ms)")

    def _note_underrun(self, block: int) -> None:
        """Three late blocks within 2 s: give the worker one block more (up to ``MAX_MARGIN_MS``),
        at most once per ``GROW_EVERY_S``, so one long stall (a recording starting, a model
        loading) does not pile up latency for good."""
        now = time.monotonic()
        self.late = [t for t in self.late if now - t < 2.0] + [now]
        if (len(self.late) >= 3 and now - self.grown_at >= GROW_EVERY_S
                and self.margin + block <= self.rate * MAX_MARGIN_MS // 1000):
            self.late = []
            self.grown_at = now
            self.margin += block
            self._set_latency(self.engine_frames + self.margin)

    def status_text(self) -> str:
        channel = self.channel
        if not self.enabled or channel is None or channel.closed:
            return super().status_text()
        if not self.latency_frames:
            return f"waiting for the worker: {channel.status_text}"
        latency_ms = 1000.0 * self.latency_frames / self.rate
        return (f"latency {latency_ms:.0f} ms, underruns {self.underruns} of {self.blocks} blocks; "
                f"{channel.status_text}")

    # ---------------------------------------------------------------- audio thread
    def filter(self, audio: Any) -> None:
        """Convert one block in place (the caller returns the same obs_audio_data).

        Frame counting since the last resync (start, worker restart, latency change): the output
        of this call is the worker's frames ``[pushed - n - margin, pushed - margin)``, so the wet
        stream keeps a fixed delay; frames that arrive too late are skipped, never played late.
        """
        if not self.enabled:
            return
        channel = self.live_channel()
        if channel is None:
            return
        ad = audio.contents
        n = int(ad.frames)
        planes = [p for p in (C.cast(ad.data[i], C.c_void_p).value for i in range(self.channels)) if p]
        if n == 0 or len(planes) != self.channels:
            return
        self._follow_latency(channel, n)
        ts = int(ad.timestamp)
        delay = self.delay
        if delay is None:  # latency not known yet: feed the worker, pass the input through
            if channel.push(planes, n, ts) and channel.available():
                channel.pull(channel.available())
            return
        if self.next_ts is not None and abs(ts - self.next_ts) > RESET_JUMP_NS:
            delay.reset()
            self.resync = True
        self.next_ts = ts + n * 1_000_000_000 // self.rate
        delay.write(planes, n)
        self.blocks += 1
        wet = late = False
        if not channel.push(planes, n, ts):
            self.resync = True  # worker away: this block never enters its stream
        else:
            if self.resync:
                left = channel.available()
                if left:
                    channel.pull(left)  # output of an earlier stream
                self.pushed = self.pulled = 0
                self.resync = False
            self.pushed += n
            start = self.pushed - n - self.margin
            if start >= self.pulled:  # (start < pulled: the margin just grew; wait for it)
                skip = min(start - self.pulled, channel.available())
                if skip and channel.pull(skip) is not None:  # frames too late to play: dropped
                    self.pulled += skip
                if self.pulled == start and channel.pull(n, out=planes) is not None:
                    self.pulled += n
                    wet = True
                else:
                    late = start >= 0
        if not wet:  # underrun or warm-up: the dry input, delayed as much
            self.underruns += 1
            delay.read_delayed(planes, n)
            if late:
                self._note_underrun(n)
        ad.timestamp = max(0, ts - self.latency_frames * 1_000_000_000 // self.rate)

# -------------------------------------------------------------------- C callbacks


@libobs.FILTER_AUDIO
def _filter_audio(data: int, audio: Any) -> int | None:
    ptr = C.cast(audio, C.c_void_p).value
    f = runtime.get_instance(data)
    if f is not None and ptr:
        try:
            f.filter(audio)
        except Exception as exc:  # noqa: BLE001  (never drop audio: return the block as it is)
            f.log_once("filter_audio", exc, libobs.LOG_ERROR)
    return ptr


CALLBACKS = {**callbacks.make(FILTER_ID, "Voice Clone", VOICE_SETTINGS, VoiceCloneFilter),
             "filter_audio": _filter_audio}
OUTPUT_FLAGS = libobs.OBS_SOURCE_AUDIO
