"""Frame rate and latency of a live run: a rolling view for the overlay and a summary at the end."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class LiveStats:
    """Latency = capture to result shown (ms); process = the swap alone (ms)."""

    started: float = field(default_factory=time.perf_counter)
    ended: float = 0.0  # set by stop(): the summary does not count the time spent closing outputs
    frames: int = 0
    dropped: int = 0  # frames the source produced that were never processed (latest wins)
    latency_ms: list[float] = field(default_factory=list)
    process_ms: list[float] = field(default_factory=list)
    recorded_frames: int = 0  # frames in the --output file (repeats that fill dropped frames included)
    recorded_seconds: float = 0.0  # its duration
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=30))

    def add(self, captured_at: float, process_ms: float, dropped: int = 0) -> None:
        now = time.perf_counter()
        self.frames += 1
        self.dropped += max(0, dropped)
        self.latency_ms.append((now - captured_at) * 1000.0)
        self.process_ms.append(process_ms)
        self._recent.append(now)

    @property
    def fps_now(self) -> float:
        if len(self._recent) < 2:
            return 0.0
        span = self._recent[-1] - self._recent[0]
        return (len(self._recent) - 1) / span if span > 0 else 0.0

    @property
    def latency_now(self) -> float:
        return self.latency_ms[-1] if self.latency_ms else 0.0

    def stop(self) -> float:
        """The session is over (no more frames); returns that moment."""
        if not self.ended:
            self.ended = time.perf_counter()
        return self.ended

    def summary(self) -> dict[str, float | int]:
        elapsed = (self.ended or time.perf_counter()) - self.started
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "seconds": round(elapsed, 3),
            "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_p50_ms": round(percentile(self.latency_ms, 50), 2),
            "latency_p99_ms": round(percentile(self.latency_ms, 99), 2),
            "process_p50_ms": round(percentile(self.process_ms, 50), 2),
            "recorded_frames": self.recorded_frames,
            "recorded_seconds": round(self.recorded_seconds, 3),
        }

    def summary_line(self) -> str:
        s = self.summary()
        return (f"{s['frames']} frames in {s['seconds']:.1f} s ({s['fps']:.1f} fps), {s['dropped']} dropped; "
                f"latency p50 {s['latency_p50_ms']:.1f} ms, p99 {s['latency_p99_ms']:.1f} ms; "
                f"swap p50 {s['process_p50_ms']:.1f} ms")
