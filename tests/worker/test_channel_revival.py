"""A video channel whose thread died is revived by the next settings change (issue #19: a dead
video channel thread was never restarted, and a settings update did not revive it). The stats tick
is set an hour apart here, so only the settings message can bring it back."""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import Pipe

import numpy as np

from obs_faceswap.ipc import control
from obs_faceswap.ipc.frames import FrameChannel
from obs_faceswap.worker import server as worker_server
from tests.ipc.util import wait_for


def test_a_settings_change_revives_a_dead_video_channel() -> None:
    chan = FrameChannel.create(32 * 48 * 4)
    ours, theirs = Pipe()
    srv = worker_server.Server(theirs, None, stats_interval=3600.0)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    try:
        control.send(ours, {"type": "open_channel", "channel": 3, "kind": "video", "shm": chan.name,
                            "processor": "invert"})
        assert wait_for(lambda: 3 in srv.channels and srv.channels[3].thread.is_alive(), 5)
        dead = srv.channels[3]

        def boom() -> bool:
            raise RuntimeError("injected fault")
        dead._step = boom  # type: ignore[method-assign]
        dead.poke()
        assert wait_for(lambda: not dead.thread.is_alive(), 5)
        time.sleep(0.3)
        assert srv.channels[3] is dead  # nothing else brings it back within this test
        control.send(ours, {"type": "settings", "channel": 3, "settings": {}})
        assert wait_for(lambda: srv.channels[3] is not dead and srv.channels[3].thread.is_alive(), 5)
        frame = np.full((32, 48, 4), 40, np.uint8)
        chan.write_frame("in", frame, 48, 32, None, 1, seq=1)
        srv.channels[3].poke()
        got = None
        deadline = time.monotonic() + 5
        while got is None and time.monotonic() < deadline:
            got = chan.claim("out")
            time.sleep(0.01)
        assert got is not None, "the revived channel did not process a frame"
        index, hdr = got
        assert hdr.seq == 1 and chan.segment.buf[chan.data_offset("out", index)] == 215  # inverted
    finally:
        control.send(ours, {"type": "shutdown"})
        t.join(10)
        chan.segment.unlink()
        chan.close()
