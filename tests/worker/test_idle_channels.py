"""Idle channels sleep (issue #19): neither a spin (select() past fd 1024 turned every sleep into
857,000 calls in 0.5 s) nor a wake-up of every idle thread 20 times a second."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, wait_for

CHANNELS = 16
SECONDS = 2.0


def _wakeups_and_cpu(pid: int) -> tuple[int, float]:
    """All the process's threads' context switches, and its CPU seconds."""
    switches = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        except FileNotFoundError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return switches, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def client():
    c = WorkerClient(PYTHON).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def test_idle_channel_threads_sleep(client) -> None:
    channels = [client.open_audio(16000, 1, processor="noop", capacity_ms=100) for _ in range(CHANNELS)]
    for ch in channels:  # each channel ran once: its thread is up and idle now
        assert ch.push([np.zeros(160, np.float32)], 160)
    assert wait_for(lambda: all(ch.available() >= 160 for ch in channels), 20)
    pid = client.worker_pid
    time.sleep(0.5)
    s0, c0 = _wakeups_and_cpu(pid)
    time.sleep(SECONDS)
    s1, c1 = _wakeups_and_cpu(pid)
    per_channel_hz = (s1 - s0) / CHANNELS / SECONDS
    print(f"\n{CHANNELS} idle channels: {per_channel_hz:.1f} wake-ups/s per channel, worker CPU {c1 - c0:.2f} s "
          f"in {SECONDS:.0f} s")
    assert c1 - c0 < 0.25 * SECONDS, f"idle worker used {c1 - c0:.2f} s of CPU in {SECONDS} s"
    # the whole worker (main loop, stats, heartbeats included) under 10 per idle channel per second;
    # a 50 ms idle timeout alone gave 20
    assert per_channel_hz < 10, per_channel_hz
