"""A fixed delay for planar float32 audio, in ctypes memory (no numpy inside OBS).

The Voice Clone filter keeps the dry input in it so that on an underrun it can output the dry
signal delayed by exactly the latency of the converted one: the stream never gaps and the
timestamps never jump.
"""

from __future__ import annotations

import ctypes as C

FLOAT = C.sizeof(C.c_float)


class DelayLine:
    """Per channel ring of float32; ``write`` a block, then ``read_delayed`` the block ``delay`` earlier."""

    def __init__(self, channels: int, delay: int, capacity: int) -> None:
        if delay < 0 or channels <= 0:
            raise ValueError("bad delay line shape")
        self.channels = channels
        self.delay = delay
        self.capacity = max(capacity, delay + 1)
        self.buffers = [(C.c_float * self.capacity)() for _ in range(channels)]
        self.written = 0  # total frames written (monotonic)

    def reset(self) -> None:
        for buf in self.buffers:
            C.memset(buf, 0, self.capacity * FLOAT)
        self.written = 0

    def set_delay(self, delay: int) -> None:
        """Change the delay, keeping the history (a longer delay repeats a little audio once)."""
        if delay < 0:
            raise ValueError("negative delay")
        if delay >= self.capacity:
            self._grow(delay + 1)
        self.delay = delay

    def _copy_in(self, buf: C.Array, start: int, src: int, n: int) -> None:
        pos = start % self.capacity
        first = min(n, self.capacity - pos)
        base = C.addressof(buf)
        C.memmove(base + pos * FLOAT, src, first * FLOAT)
        if n > first:
            C.memmove(base, src + first * FLOAT, (n - first) * FLOAT)

    def _copy_out(self, buf: C.Array, start: int, dst: int, n: int) -> None:
        pos = start % self.capacity
        first = min(n, self.capacity - pos)
        base = C.addressof(buf)
        C.memmove(dst, base + pos * FLOAT, first * FLOAT)
        if n > first:
            C.memmove(dst + first * FLOAT, base, (n - first) * FLOAT)

    def write(self, planes: list[int], n: int) -> None:
        """Append ``n`` frames; ``planes`` are addresses of one float32 array per channel."""
        if n > self.capacity - self.delay:
            self._grow(n + self.delay)
        for ch in range(self.channels):
            src = planes[ch] if ch < len(planes) else planes[-1]
            self._copy_in(self.buffers[ch], self.written, src, n)
        self.written += n

    def read_delayed(self, planes: list[int], n: int) -> None:
        """Write the ``n`` frames that were input ``delay`` frames before the last ``n`` written."""
        start = self.written - n - self.delay
        for ch in range(min(self.channels, len(planes))):
            dst = planes[ch]
            if start < 0:  # warm-up: silence before the first input
                lead = min(n, -start)
                C.memset(dst, 0, lead * FLOAT)
                if n > lead:
                    self._copy_out(self.buffers[ch], 0, dst + lead * FLOAT, n - lead)
            else:
                self._copy_out(self.buffers[ch], start, dst, n)

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * self.capacity)
        keep = min(self.written, self.capacity)
        new = [(C.c_float * capacity)() for _ in range(self.channels)]
        for old, buf in zip(self.buffers, new, strict=True):
            start = self.written - keep
            tmp = (C.c_float * keep)()
            self._copy_out(old, start, C.addressof(tmp), keep)
            pos = start % capacity
            first = min(keep, capacity - pos)
            C.memmove(C.addressof(buf) + pos * FLOAT, tmp, first * FLOAT)
            if keep > first:
                C.memmove(C.addressof(buf), C.addressof(tmp) + first * FLOAT, (keep - first) * FLOAT)
        self.buffers, self.capacity = new, capacity
