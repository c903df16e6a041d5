"""Held probe (issue #19): random SIGKILL and SIGSTOP of the worker while 1280x720 video and audio
stream through it, as OBS would see them. Per-frame calls never wait on the worker (a deadlock
bound, not a timing: the worst call is printed), and afterwards both channels work again."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import numpy as np

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, wait_for

W, H = 1280, 720
SIGNALS = 6
CALL_LIMIT_S = 2.0  # only a call that waits on a stopped or dead worker gets anywhere near this


def test_random_kills_and_stops_while_streaming_never_block_a_frame() -> None:
    c = WorkerClient(PYTHON, log=lambda _m: None, hang_timeout=1.5, max_result_age=5.0).start()
    try:
        assert c.wait_ready(30), c.status
        video = c.open_video(processor="invert")
        audio = c.open_audio(48000, 2, processor="noop")
        frame = np.full((H, W, 4), 30, np.uint8)
        block = [np.zeros(480, np.float32)] * 2
        stop = threading.Event()
        worst: list[float] = [0.0]
        calls: list[int] = [0]
        errors: list[BaseException] = []

        def stream() -> None:
            i = 0
            try:
                while not stop.is_set():
                    for call in (lambda i=i: video.submit(frame, W, H, W * 4, "BGRA", i), video.result,
                                 lambda i=i: audio.push(block, 480, i), lambda: audio.pull(480)):
                        t = time.perf_counter()
                        call()
                        worst[0] = max(worst[0], time.perf_counter() - t)
                        calls[0] += 1
                    i += 1
                    time.sleep(1 / 60)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

        t = threading.Thread(target=stream, name="per-frame", daemon=True)
        t.start()
        rng = random.Random(19)
        sent = []
        for _ in range(SIGNALS):
            assert wait_for(lambda: c.running and c.worker_pid is not None, 30), c.status
            time.sleep(rng.uniform(0.2, 0.6))
            pid = c.worker_pid
            sig = rng.choice([signal.SIGKILL, signal.SIGSTOP])
            try:
                os.kill(pid, sig)  # a stopped worker is found hung and replaced by the client
                sent.append(sig.name)
            except ProcessLookupError:
                pass
            assert wait_for(lambda p=pid: c.worker_pid not in (None, p), 30), c.status
        stop.set()
        t.join(10)
        assert not t.is_alive() and not errors, errors
        print(f"\n{sent}: {calls[0]} per-frame calls, worst {worst[0] * 1000:.1f} ms, {c.restarts} restarts")
        assert worst[0] < CALL_LIMIT_S, worst[0]
        assert c.restarts >= len(sent)
        assert wait_for(lambda: c.running, 30), c.status
        small = np.full((32, 48, 4), 10, np.uint8)
        view = None
        deadline = time.monotonic() + 20
        while view is None and time.monotonic() < deadline:
            assert video.submit(small, 48, 32, 48 * 4, "BGRA", 0)
            view = video.wait_result(0.5, video.submitted_seq)
        assert view is not None and view.tobytes()[0] == 245, video.status_text
        audio.pull(audio.available())
        tone = [np.full(480, 0.25, np.float32)] * 2
        assert wait_for(lambda: audio.push(tone, 480) and audio.available() >= 480, 20), audio.status_text
    finally:
        c.stop()
