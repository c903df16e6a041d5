"""The Voice Clone filter's stream (``obs.audio_stream``), outside OBS, against a worker that is late
on a script: short hiccups are absorbed by the margin, longer ones fall back to the dry voice, and
no switch between wet and dry is a step in the waveform (a click)."""

from __future__ import annotations

from collections import deque

import numpy as np

from obs_faceswap.obs.audio_stream import WetDryStream

RATE, N = 48000, 1024  # OBS hands audio filters 1024-frame blocks
ENGINE_MS = 10.0
GAIN = 0.5  # what the scripted "voice engine" does: visibly different from the dry voice


class ScriptedWorker:
    """The client side of an audio channel whose worker returns each pushed chunk (times ``GAIN``,
    delayed by the engine latency) ``delay(k)`` calls after it was pushed; ``away(k)``: push refused."""

    def __init__(self, channels: int, delay, away=lambda k: False) -> None:
        self.latency_ms = ENGINE_MS
        self.channels = channels
        self.delay, self.away = delay, away
        self.call = -1
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.ready = np.zeros((channels, 0), np.float32)
        self.engine = np.zeros((channels, int(RATE * ENGINE_MS / 1000)), np.float32)

    def tick(self) -> None:
        self.call += 1
        while self.pending and self.pending[0][0] <= self.call:
            self.ready = np.concatenate([self.ready, self.pending.popleft()[1]], axis=1)

    def push(self, planes: list[int], n: int, ts: int = 0) -> bool:
        if self.away(self.call):
            return False
        x = np.stack([np.ctypeslib.as_array((np.ctypeslib.ctypes.c_float * n).from_address(p)) for p in planes])
        stream = np.concatenate([self.engine, x * GAIN], axis=1)
        self.engine = stream[:, n:]
        self.pending.append((self.call + self.delay(self.call), stream[:, :n].copy()))
        return True

    def available(self) -> int:
        return self.ready.shape[1]

    def pull(self, n: int, out: list[int] | None = None):
        if n > self.ready.shape[1]:
            return None
        block, self.ready = self.ready[:, :n], self.ready[:, n:]
        if out is not None:
            for c, addr in enumerate(out):
                np.ctypeslib.as_array((np.ctypeslib.ctypes.c_float * n).from_address(addr))[:] = block[c]
        return None, 0


def run(stream: WetDryStream, worker: ScriptedWorker, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Feed a 440 Hz tone through; return (input, output) as (channels, frames)."""
    t = np.arange(blocks * N) / RATE
    signal = np.stack([0.8 * np.sin(2 * np.pi * 440 * t + c) for c in range(worker.channels)]).astype(np.float32)
    out = np.empty_like(signal)
    for k in range(blocks):
        worker.tick()
        block = [signal[c, k * N:(k + 1) * N].copy() for c in range(worker.channels)]
        ts = stream.process(worker, [b.ctypes.data for b in block], N, 1_000_000_000 + k * N * 10**9 // RATE)
        assert ts == max(0, 1_000_000_000 + k * N * 10**9 // RATE - stream.latency_frames * 10**9 // RATE)
        out[:, k * N:(k + 1) * N] = np.stack(block)
    return signal, out


def delayed(x: np.ndarray, frames: int) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], frames), x.dtype), x[:, :-frames]], axis=1)


def test_one_block_hiccups_are_absorbed_by_the_margin() -> None:
    late_every_7th = lambda k: 2 if k % 7 == 3 else 1  # noqa: E731  (the worker answers one block late)
    stream = WetDryStream(RATE, 2)
    signal, out = run(stream, ScriptedWorker(2, late_every_7th), 120)
    assert stream.underruns == 0
    lat = stream.latency_frames
    assert lat < int(RATE * (ENGINE_MS + 50) / 1000)  # engine + 2 blocks + 5 ms fade
    want = GAIN * delayed(signal, lat)
    np.testing.assert_allclose(out[:, 10 * N:], want[:, 10 * N:], atol=1e-6)  # wet all along

    # the previous margin (one block + 20 ms) needed every block back within one block period
    old = WetDryStream(RATE, 2)
    old.margin = N + RATE * 20 // 1000
    run(old, ScriptedWorker(2, late_every_7th), 120)
    assert old.underruns >= 3 and old.margin > N + RATE * 20 // 1000  # heard, and had to grow its latency


def test_wet_dry_switches_are_crossfaded_not_clicks() -> None:
    def stalls(k: int) -> int:
        return 6 if 40 <= k < 44 else 1  # the worker stalls ~130 ms

    def away(k: int) -> bool:
        return 80 <= k < 86  # the worker is restarting: pushes refused

    stream = WetDryStream(RATE, 1)
    signal, out = run(stream, ScriptedWorker(1, stalls, away), 130)
    lat = stream.latency_frames
    dry, wet = delayed(signal, lat)[0], GAIN * delayed(signal, lat)[0]
    rms = np.sqrt((out[0, 20 * N:].reshape(-1, N) ** 2).mean(1))
    assert stream.underruns >= 8  # both stalls fell back to the dry voice...
    assert (np.abs(rms - np.sqrt((dry[20 * N:].reshape(-1, N) ** 2).mean(1))) < 1e-3).sum() >= 5
    np.testing.assert_allclose(out[0, -10 * N:], wet[-10 * N:], atol=1e-6)  # ...and came back to wet
    # a hard switch here jumps by up to 0.4; a 440 Hz tone of 0.8 moves at most 0.046 per sample
    steps = np.abs(np.diff(out[0, 5 * N:]))
    assert steps.max() < 0.06, (steps.max(), int(steps.argmax()) // N + 5)
    hard = np.abs(np.diff(np.where(np.arange(dry.size) // N % 2 == 0, dry, wet)[5 * N:]))
    assert hard.max() > 0.2  # (what the test would see without the crossfades)
