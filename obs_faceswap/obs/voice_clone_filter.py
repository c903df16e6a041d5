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
from . import libobs, properties, runtime
from .delay_line import DelayLine
from .worker_link import RateLimit, close_quietly, link

FILTER_ID = b"obs_faceswap_audio"
DISPLAY_NAME = b"Voice Clone"
AUDIO_PROCESSOR = os.environ.get("OBS_FACESWAP_AUDIO_PROCESSOR", "voice")  # 'noop': transport check
RESET_JUMP_NS = 1_000_000_000  # a timestamp jump larger than this restarts the stream
MARGIN_MS = 20  # beyond one OBS block: time the worker gets to return a block
MAX_MARGIN_MS = 400


class VoiceCloneFilter:
    def __init__(self, lib: libobs.LibObs, source: int, settings: dict[str, Any]) -> None:
        self.lib = lib
        self.source = source
        self.settings = settings
        audio = lib.obs_get_audio()
        self.rate = int(lib.audio_output_get_sample_rate(audio)) if audio else 48000
        self.channels = int(lib.audio_output_get_channels(audio)) if audio else 2
        self.channel: Any = None
        self.status_tick = RateLimit(1.0)
        self.delay: DelayLine | None = None
        self.latency_frames = 0  # total delay of the output: engine latency + margin
        self.engine_frames = 0
        self.margin = 0
        self.late: list[float] = []
        self.resync = True
        self.pushed = 0  # frames pushed / pulled since the last resync
        self.pulled = 0
        self.next_ts: int | None = None
        self.blocks = 0
        self.underruns = 0
        self.last_status = ""

    # ---------------------------------------------------------------- worker channel
    def live_channel(self) -> Any:
        """This filter's channel on the shared worker (opened on first use; never blocks)."""
        channel = self.channel
        if channel is not None and not channel.closed:
            return channel
        client = link().client()
        if client is None:
            return None
        self.channel = client.open_audio(self.rate, self.channels, dict(self.settings), processor=AUDIO_PROCESSOR)
        runtime.log(f"Voice Clone: channel opened, {self.rate} Hz x{self.channels}")
        return self.channel

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
        """Three late blocks within 2 s: give the worker one block more (up to ``MAX_MARGIN_MS``)."""
        now = time.monotonic()
        self.late = [t for t in self.late if now - t < 2.0] + [now]
        if len(self.late) >= 3 and self.margin + block <= self.rate * MAX_MARGIN_MS // 1000:
            self.late = []
            self.margin += block
            self._set_latency(self.engine_frames + self.margin)

    def update(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        channel = self.channel
        if channel is not None and not channel.closed:
            try:
                channel.update(dict(settings))
            except Exception as exc:  # noqa: BLE001
                runtime.log(f"Voice Clone settings not applied: {exc}", libobs.LOG_WARNING)

    def status_text(self) -> str:
        if not self.settings.get("enabled", True):
            return "off (passing audio through)"
        channel = self.channel
        if channel is None or channel.closed:
            error = link().error
            return f"bypass: {error}" if error else "starting worker..."
        if not self.latency_frames:
            return f"waiting for the worker: {channel.status_text}"
        latency_ms = 1000.0 * self.latency_frames / self.rate
        return (f"latency {latency_ms:.0f} ms, underruns {self.underruns} of {self.blocks} blocks; "
                f"{channel.status_text}")

    def tick(self) -> None:
        if self.status_tick():
            text = self.status_text()
            if text != self.last_status:
                self.last_status = text
                properties.write_status(self.lib, self.source, text)

    # ---------------------------------------------------------------- audio thread
    def filter(self, audio: Any) -> None:
        """Convert one block in place (the caller returns the same obs_audio_data).

        Frame counting since the last resync (start, worker restart, latency change): the output
        of this call is the worker's frames ``[pushed - n - margin, pushed - margin)``, so the wet
        stream keeps a fixed delay; frames that arrive too late are skipped, never played late.
        """
        if not self.settings.get("enabled", True):
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

    def destroy(self) -> None:
        channel, self.channel = self.channel, None
        close_quietly(channel)


# -------------------------------------------------------------------- C callbacks


@libobs.GET_NAME
def _get_name(_type_data: int) -> int:
    return C.addressof(runtime.STATE["names"][FILTER_ID])


@libobs.CREATE
def _create(settings: int, source: int) -> int | None:
    try:
        lib = libobs.get()
        return runtime.add_instance(VoiceCloneFilter(lib, source, properties.read(lib, settings, VOICE_SETTINGS)))
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Voice Clone create failed: {exc!r}", libobs.LOG_ERROR)
        return None


@libobs.DESTROY
def _destroy(data: int) -> None:
    f = runtime.pop_instance(data)
    if f is not None:
        try:
            f.destroy()
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"Voice Clone destroy: {exc!r}", libobs.LOG_ERROR)


@libobs.UPDATE
def _update(data: int, settings: int) -> None:
    f = runtime.get_instance(data)
    if f is not None:
        try:
            f.update(properties.read(f.lib, settings, VOICE_SETTINGS))
        except Exception as exc:  # noqa: BLE001
            runtime.log(f"Voice Clone update failed: {exc!r}", libobs.LOG_ERROR)


@libobs.GET_DEFAULTS
def _get_defaults(settings: int) -> None:
    try:
        properties.set_defaults(libobs.get(), settings, VOICE_SETTINGS)
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Voice Clone defaults failed: {exc!r}", libobs.LOG_ERROR)


@libobs.GET_PROPERTIES
def _get_properties(_data: int) -> int | None:
    try:
        return properties.build(libobs.get(), VOICE_SETTINGS)
    except Exception as exc:  # noqa: BLE001
        runtime.log(f"Voice Clone properties failed: {exc!r}", libobs.LOG_ERROR)
        return None


@libobs.VIDEO_TICK
def _video_tick(data: int, _seconds: float) -> None:
    f = runtime.get_instance(data)
    if f is not None:
        try:
            f.tick()
        except Exception as exc:  # noqa: BLE001
            runtime.log_once(f"audio tick {exc}", f"Voice Clone status failed: {exc!r}")


@libobs.FILTER_AUDIO
def _filter_audio(data: int, audio: Any) -> int | None:
    ptr = C.cast(audio, C.c_void_p).value
    f = runtime.get_instance(data)
    if f is not None and ptr:
        try:
            f.filter(audio)
        except Exception as exc:  # noqa: BLE001  (never drop audio: return the block as it is)
            runtime.log_once(f"filter_audio {exc}", f"Voice Clone failed: {exc!r}", libobs.LOG_ERROR)
    return ptr


CALLBACKS = {
    "get_name": _get_name,
    "create": _create,
    "destroy": _destroy,
    "update": _update,
    "get_defaults": _get_defaults,
    "get_properties": _get_properties,
    "video_tick": _video_tick,
    "filter_audio": _filter_audio,
}
OUTPUT_FLAGS = libobs.OBS_SOURCE_AUDIO
