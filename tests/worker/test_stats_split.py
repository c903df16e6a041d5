"""Stats of many channels that together pass the message limit arrive split over several messages,
each under the limit, and every channel is in one of them (issue #19: one stats message over 1 MiB
was dropped for all channels). The limit is lowered here so a few channels pass it; the worker
runs in this process, so the limit it sends under is the one the test receives under."""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import Pipe

import pytest

from obs_faceswap.ipc import audio as audio_ring
from obs_faceswap.ipc import control
from obs_faceswap.worker import server as worker_server
from tests.ipc.util import wait_for

LIMIT = 8192


def test_stats_of_many_channels_are_split_under_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "MAX_MESSAGE", LIMIT)
    rings = [audio_ring.AudioRings.create(16000, 1, 1000) for _ in range(8)]
    ours, theirs = Pipe()
    srv = worker_server.Server(theirs, None, stats_interval=0.1)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    try:
        for i, ring in enumerate(rings):
            control.send(ours, {"type": "open_channel", "channel": i, "kind": "audio", "shm": ring.name,
                                "processor": "noop"})
        assert wait_for(lambda: len(srv.channels) == len(rings), 5)
        for ch in srv.channels.values():  # 8 x ~2 kB of stats: over the 8 kB limit together
            ch.last_error = "e" * 1800
        seen: set[str] = set()
        sizes: list[int] = []
        deadline = time.monotonic() + 5
        while len(seen) < len(rings) and ours.poll(max(0.0, deadline - time.monotonic())):
            data = ours.recv_bytes()
            msg = control.decode(data)
            if msg["type"] == "stats" and any(st.get("last_error") for st in msg["channels"].values()):
                sizes.append(len(data))
                seen.update(msg["channels"])
        assert seen == {str(i) for i in range(len(rings))}, (seen, sizes)
        assert len(sizes) > 1 and max(sizes) <= LIMIT, sizes
    finally:
        control.send(ours, {"type": "shutdown"})
        t.join(10)
        for ring in rings:
            ring.segment.unlink()
            ring.close()
