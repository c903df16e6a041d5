"""The Voice Clone filter's stream logic, outside OBS: a fixed-delay wet stream with a dry fallback.

Stdlib + ctypes only. Each OBS block is pushed to the worker; the block that goes out is the
worker's output for the frames ``latency`` earlier, or, when those are not back yet (underrun),
the dry input from a local delay line delayed exactly as much, so the stream never has a gap
and its timestamps never jump.

Why the margin is counted in whole blocks: the worker returns audio in the chunks it was given
(one per OBS block). The window of a call ends ``margin`` frames before the newest input, so a
margin of ``n + 20 ms`` (less than two blocks) still needs the *previous* block back within one
block period: the 20 ms absorbed nothing. Here the margin is one block (the trip itself) plus
enough whole blocks to cover ``MARGIN_MS`` of worker hiccups, plus a crossfade length.

Click-free switching: the window also starts ``fade`` frames before a chunk boundary, so when a
chunk is late the window still begins with wet audio from the chunk before, and wet fades out
into dry over those frames (equal-power). Coming back, wet fades in over the first ``fade``
frames of the block (both signals are there). A wet stream missing altogether (a long stall)
fades the last output sample into the dry signal, and so does the first block after the latency
changed (the margin grew, or a setting changed the engine's latency): no step either.
"""

from __future__ import annotations

import ctypes as C
import math
import time
from typing import Any, Protocol

from .delay_line import DelayLine

RESET_JUMP_NS = 1_000_000_000  # a timestamp jump larger than this restarts the stream
MARGIN_MS = 20  # worker hiccups absorbed, rounded up to whole blocks
FADE_MS = 5  # wet <-> dry crossfade
MAX_MARGIN_MS = 400
GROW_EVERY_S = 5.0

FloatArray = Any  # a ctypes float array


def margin_frames(rate: int, block: int) -> int:
    """The starting margin for ``block``-frame OBS blocks at ``rate`` Hz: one block (the trip to the
    worker) + whole blocks covering ``MARGIN_MS`` of worker hiccups + the ``FADE_MS`` crossfade.
    The output's latency is the engine's plus this (plus one block per growth, see ``_note_late``)."""
    hiccup = rate * MARGIN_MS // 1000
    return block * (1 + -(-hiccup // block)) + max(1, rate * FADE_MS // 1000)


class AudioChannelLike(Protocol):
    latency_ms: float

    def push(self, planes: list[int], frames_: int, timestamp: int = 0) -> bool: ...
    def pull(self, frames_: int, out: list[int] | None = None) -> Any: ...
    def available(self) -> int: ...


class WetDryStream:
    """Per filter instance: turns each OBS block into the wet (or, late, dry) block ``latency`` earlier."""

    def __init__(self, rate: int, channels: int, *, clock: Any = time.monotonic) -> None:
        self.rate, self.channels = int(rate), int(channels)
        self.clock = clock
        self.delay: DelayLine | None = None
        self.latency_frames = 0  # total delay of the output: engine latency + margin
        self.engine_frames = 0
        self.margin = 0
        self.block = 0
        self.fade = max(1, self.rate * FADE_MS // 1000)
        self.late: list[float] = []
        self.grown_at = -1e9
        self.resync = True
        self.pushed = 0  # frames pushed / pulled since the last resync
        self.pulled = 0
        self.next_ts: int | None = None
        self.blocks = 0  # blocks output with a known latency
        self.underruns = 0  # of those, blocks (partly) dry because the worker was late or away
        self.wet_before = False  # the previous block ended wet
        self.last = [0.0] * self.channels  # last output sample per channel
        self.jump = False  # the next block must fade in from the last output sample
        self.on_latency: Any = None  # called with a log line when the latency changes
        self._tmp: list[FloatArray] = []
        self._gain_in = [math.sin(0.5 * math.pi * (i + 0.5) / self.fade) for i in range(self.fade)]

    # -- latency ----------------------------------------------------------------------------------
    def follow_latency(self, engine_ms: float, block: int) -> None:
        """Adopt the worker's latency once known (and when a setting changes it); sticky while the
        worker is away, so a crash does not move the timestamps."""
        engine = int(round(float(engine_ms) * self.rate / 1000.0))
        if engine <= 0 or engine == self.engine_frames:
            return
        if not self.margin:
            self.block = block
            self.margin = margin_frames(self.rate, block)
        self.engine_frames = engine
        self._set_latency(engine + self.margin)
        self.resync = True

    def _set_latency(self, total: int) -> None:
        self.latency_frames = total
        if self.delay is None:
            self.delay = DelayLine(self.channels, total, total + self.rate)
        else:
            self.delay.set_delay(total)
            self.jump = True  # the output timeline moved: fade the next block in from the last sample
        if self.on_latency is not None:
            self.on_latency(f"latency {1000.0 * total / self.rate:.1f} ms "
                            f"(engine {1000.0 * self.engine_frames / self.rate:.1f} ms, "
                            f"margin {1000.0 * self.margin / self.rate:.1f} ms, block {self.block} frames)")

    def _note_late(self, block: int) -> None:
        """Three late blocks within 2 s: give the worker one block more (up to ``MAX_MARGIN_MS``),
        at most once per ``GROW_EVERY_S``, so one long stall does not pile up latency for good."""
        now = self.clock()
        self.late = [t for t in self.late if now - t < 2.0] + [now]
        if (len(self.late) >= 3 and now - self.grown_at >= GROW_EVERY_S
                and self.margin + block <= self.rate * MAX_MARGIN_MS // 1000):
            self.late = []
            self.grown_at = now
            self.margin += block
            self._set_latency(self.engine_frames + self.margin)

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_frames / self.rate

    # -- per block --------------------------------------------------------------------------------
    def process(self, channel: AudioChannelLike, planes: list[int], n: int, ts: int) -> int:
        """Convert one block in place (``planes``: one float32 address per channel); returns the
        timestamp to stamp it with. Until the latency is known the input passes through untouched."""
        self.follow_latency(channel.latency_ms, n)
        delay = self.delay
        if delay is None:  # latency not known yet: feed the worker, pass the input through
            if channel.push(planes, n, ts) and channel.available():
                channel.pull(channel.available())
            return ts
        if self.next_ts is not None and abs(ts - self.next_ts) > RESET_JUMP_NS:
            delay.reset()
            self.resync = self.jump = True
        self.next_ts = ts + n * 1_000_000_000 // self.rate
        delay.write(planes, n)
        self.blocks += 1
        wet = 0  # wet frames at the start of this block's window
        start = -1
        pushed = channel.push(planes, n, ts)
        if not pushed:
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
                if self.pulled == start:
                    wet = min(n, channel.available())
        self._output(channel, planes, n, wet)
        if wet < n and not (pushed and start < 0):  # (dry during warm-up is no underrun)
            self.underruns += 1
            if pushed:
                self._note_late(n)
        ad_ts = ts - self.latency_frames * 1_000_000_000 // self.rate
        return max(0, ad_ts)

    def _buffers(self, n: int) -> list[FloatArray]:
        if not self._tmp or len(self._tmp[0]) < n:
            self._tmp = [(C.c_float * max(n, 4096))() for _ in range(self.channels)]
        return self._tmp

    def _output(self, channel: AudioChannelLike, planes: list[int], n: int, wet: int) -> None:
        delay = self.delay
        assert delay is not None
        fade = self.fade
        if wet >= n:  # the whole window is back
            if not self.wet_before:  # coming back from dry: fade wet in over the dry
                dry = self._buffers(n)
                delay.read_delayed([C.addressof(b) for b in dry], n)
            if channel.pull(n, out=planes) is None:  # cannot happen (available >= n); stay safe
                delay.read_delayed(planes, n)
                self._end(planes, n, False)
                return
            self.pulled += n
            if not self.wet_before:
                for c in range(self.channels):
                    out = (C.c_float * n).from_address(planes[c])
                    d = dry[c]
                    for i in range(min(fade, n)):
                        g = self._gain_in[i]
                        out[i] = out[i] * g + d[i] * self._gain_in[fade - 1 - i]
            self._end(planes, n, True)
            return
        # dry block (underrun, warm-up or worker away), fading out of the wet stream if it was on
        head = 0
        wetbuf = None
        if self.wet_before and wet > 0:
            head = min(wet, fade)
            wetbuf = self._buffers(head)
            if channel.pull(head, out=[C.addressof(b) for b in wetbuf]) is not None:
                self.pulled += head
            else:
                head = 0
        delay.read_delayed(planes, n)
        if self.wet_before:
            span = min(fade, n)
            for c in range(self.channels):
                out = (C.c_float * n).from_address(planes[c])
                held = wetbuf[c][head - 1] if wetbuf is not None and head else self.last[c]
                for i in range(span):
                    g_out = self._gain_in[fade - 1 - i]
                    w = wetbuf[c][i] if wetbuf is not None and i < head else held
                    out[i] = out[i] * self._gain_in[i] + w * g_out
        self._end(planes, n, False)

    def _end(self, planes: list[int], n: int, wet: bool) -> None:
        self.wet_before = wet
        if self.jump:
            self.jump = False
            fade = self.fade
            for c in range(self.channels):
                out = (C.c_float * n).from_address(planes[c])
                held = self.last[c]
                for i in range(min(fade, n)):
                    out[i] = out[i] * self._gain_in[i] + held * self._gain_in[fade - 1 - i]
        for c in range(self.channels):
            self.last[c] = float((C.c_float * n).from_address(planes[c])[n - 1])
