"""Faults with real processes: worker killed, client killed, frame size changes, bad frames, stale results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from tests.ipc.util import PYTHON, pid_alive, shm_exists, wait_for


@pytest.fixture
def client():
    lines: list[str] = []
    c = WorkerClient(PYTHON, log=lines.append, max_result_age=2.0).start()
    c.lines = lines  # type: ignore[attr-defined]
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def _frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def _roundtrip(video, frame: np.ndarray, timeout: float = 10.0) -> np.ndarray:
    h, w = frame.shape[:2]
    assert video.submit(frame, w, h, w * 4, "BGRA", 0)
    view = video.wait_result(timeout, video.submitted_seq)
    assert view is not None, video.status_text
    assert view.seq == video.submitted_seq
    assert (view.width, view.height, view.format_name) == (w, h, "BGRA")
    return np.frombuffer(view.tobytes(), np.uint8).reshape(h, w, 4)


def _assert_inverted(out: np.ndarray, frame: np.ndarray) -> None:
    assert np.array_equal(out[..., :3], 255 - frame[..., :3])
    assert np.array_equal(out[..., 3], frame[..., 3])


def test_worker_killed_mid_stream_client_passes_through_and_restarts(client) -> None:
    video = client.open_video({}, processor="invert")
    frame = _frame(320, 240)
    for _ in range(5):
        _assert_inverted(_roundtrip(video, frame), frame)
    names = video.segment_names
    old_pid = client.worker_pid
    os.kill(old_pid, signal.SIGKILL)
    t_kill = time.monotonic()
    bypassed = 0
    restarted = False
    # a generous wait: how fast a worker restarts is the bench's business (bench transport: restart_ms)
    while time.monotonic() - t_kill < 60:
        sent = video.submit(frame, 320, 240, 320 * 4, "BGRA")  # never blocking: test_never_blocks.py
        res = video.result()
        if not sent:
            bypassed += 1
            assert res is None  # no worker: nothing to show, the caller draws its input
        if client.running and client.worker_pid not in (None, old_pid):
            restarted = True
            break
        time.sleep(0.005)
    assert restarted, client.status
    assert bypassed > 0
    assert not pid_alive(old_pid)
    assert all(shm_exists(n) for n in names)  # the dead worker took nothing with it
    frame2 = _frame(320, 240, seed=1)
    _assert_inverted(_roundtrip(video, frame2), frame2)  # processing resumed on the new worker
    assert client.restarts == 1
    assert any("exited with code -9" in line for line in client.lines)
    sock_dir = os.path.dirname(client._supervisor.address)
    client.stop()
    assert not any(shm_exists(n) for n in names)
    assert not os.path.exists(sock_dir)


_CLIENT = """
import json, os, sys, time
import numpy as np
from obs_faceswap.ipc import WorkerClient
c = WorkerClient(sys.executable).start()
assert c.wait_ready(30), c.status
v = c.open_video({}, processor="invert")
a = c.open_audio(48000, 1, {}, processor="noop")
f = np.zeros((48, 64, 4), np.uint8)
v.submit(f, 64, 48, 256, "BGRA")
assert v.wait_result(10) is not None
print(json.dumps({"worker": c.worker_pid, "segments": v.segment_names + a.segment_names,
                  "dir": os.path.dirname(c._supervisor.address)}), flush=True)
time.sleep(60)
"""


def test_client_killed_worker_exits_and_nothing_is_left() -> None:
    proc = subprocess.Popen([PYTHON, "-c", _CLIENT], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert all(shm_exists(n) for n in info["segments"]) and len(info["segments"]) == 2
        assert pid_alive(info["worker"])
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert wait_for(lambda: not pid_alive(info["worker"]), 5), "worker outlived its client"
        assert not any(shm_exists(n) for n in info["segments"])
        assert not os.path.exists(info["dir"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_frame_size_change_mid_stream_reallocates(client) -> None:
    video = client.open_video({}, processor="invert")
    seen_names: list[str] = []
    for i, (w, h) in enumerate([(64, 48), (320, 240), (160, 120), (640, 360), (64, 48)]):
        for k in range(3):
            frame = _frame(w, h, seed=i * 10 + k)
            _assert_inverted(_roundtrip(video, frame), frame)
        seen_names += [n for n in video.segment_names if n not in seen_names]
    assert video.stats["reallocs"] == 2  # grew twice; smaller frames reuse the segment
    current = video.segment_names[0]
    assert [n for n in seen_names if shm_exists(n)] == [current]  # old segments were unlinked
    assert client.worker_pid is not None and client.restarts == 0


def test_zero_sized_and_bad_frames_are_refused_without_harm(client) -> None:
    video = client.open_video({}, processor="invert")
    assert video.submit(b"", 0, 0) is False
    assert video.submit(b"", 16, 0) is False
    assert video.submit(0, 16, 16, 64, "BGRA") is False  # NULL pointer
    assert video.submit(b"\0" * 10, 16, 16, 64, "BGRA") is False  # buffer too short
    assert video.submit(b"\0" * 1024, 16, 16, 64, "RGB565") is False
    assert video.stats["rejected"] == 5 and "frame refused" in video.status_text
    frame = _frame(16, 16)
    _assert_inverted(_roundtrip(video, frame), frame)
    assert client.restarts == 0


def test_results_carry_the_input_sequence_and_stale_ones_are_never_shown(client) -> None:
    video = client.open_video({}, processor="invert")
    frame = _frame(32, 32)
    for seq in range(1, 4):
        video.submit(frame, 32, 32, 128, "BGRA", timestamp=seq * 1000)
        view = video.wait_result(10)
        assert view is not None and view.seq == seq and view.timestamp == seq * 1000
    assert video.result() is not None and not video.result().is_new  # same result, still fresh
    time.sleep(2.1)  # older than max_result_age (2 s: generous, so "still fresh" holds on a loaded machine)
    assert video.result() is None
    small = _frame(16, 16)
    assert video.submit(small, 16, 16, 64, "BGRA")
    # until the 16x16 result arrives, the 32x32 one must not be shown; then the 16x16 one is
    seen: list[tuple[int, int]] = []

    def fresh_small() -> bool:
        view = video.result()
        if view is not None:
            seen.append((view.width, view.height))
        return view is not None and view.is_new

    assert wait_for(fresh_small, 10), video.status_text
    assert set(seen) == {(16, 16)}, seen
    view = video.result()  # the same result again, still fresh
    assert view is not None and not view.is_new and view.seq == video.submitted_seq
    _assert_inverted(np.frombuffer(view.tobytes(), np.uint8).reshape(16, 16, 4), small)


def test_hung_worker_is_killed_and_replaced() -> None:
    lines: list[str] = []
    client = WorkerClient(PYTHON, log=lines.append, hang_timeout=1.5).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="invert")
        frame = _frame(64, 48)
        _assert_inverted(_roundtrip(video, frame), frame)
        old = client.worker_pid
        os.kill(old, signal.SIGSTOP)  # alive but silent: a hang
        assert wait_for(lambda: client.running and client.worker_pid not in (None, old), 10), client.status
        assert any("stopped answering" in line for line in lines)
        assert not pid_alive(old)
        _assert_inverted(_roundtrip(video, frame), frame)
    finally:
        client.stop()


def test_a_failing_log_callback_does_not_stop_supervision() -> None:
    def broken_log(_msg: str) -> None:
        raise RuntimeError("the host's logger is gone")

    client = WorkerClient(PYTHON, log=broken_log).start()
    try:
        assert client.wait_ready(30), client.status
        old = client.worker_pid
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: client.running and client.worker_pid not in (None, old), 10), client.status
    finally:
        client.stop()


def test_a_warm_spare_takes_over_a_killed_worker_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBS keeps a warm spare worker (interpreter up, engines imported): after a crash it is handed
    the key and serves in a fraction of a new process's start-up; nothing is left after stop()."""
    from obs_faceswap.ipc import supervisor

    monkeypatch.setattr(supervisor, "SPARE_DELAY_S", 0.5)  # OBS waits 5 s: after the first model loads
    lines: list[str] = []
    c = WorkerClient(PYTHON, log=lines.append, max_result_age=5.0, warm_spare=True).start()
    try:
        assert c.wait_ready(30), c.status
        video = c.open_video(processor="invert")
        frame = np.full((32, 48, 4), 10, np.uint8)
        assert video.submit(frame, 48, 32, 48 * 4, "BGRA", 0) and video.wait_result(10, video.submitted_seq)
        sup = c._supervisor
        assert wait_for(lambda: sup._spare is not None and sup._spare.poll() is None, 15), "no spare started"
        spare = sup._spare
        old = c.worker_pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        killed = time.monotonic()
        assert wait_for(lambda: c.running and c.worker_pid not in (None, old), 10)
        took = time.monotonic() - killed
        assert c.worker_pid == spare.pid  # the spare took over ...
        view = None
        while view is None and time.monotonic() - killed < 10:
            assert video.submit(frame, 48, 32, 48 * 4, "BGRA", 0)
            view = video.wait_result(0.2, video.submitted_seq)
        assert view is not None and view.tobytes()[0] == 245
        print(f"warm spare serving {took:.2f} s after the kill")  # speed: bench transport's restart_ms
        assert any("after the worker was started (a warm spare" in ln for ln in lines) or wait_for(
            lambda: any("a warm spare" in ln for ln in lines), 5), lines[-5:]
        assert wait_for(lambda: sup._spare is not None, 15), "no new spare after the takeover"
        pids = [spare.pid, sup._spare.pid]
    finally:
        c.stop()
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 5), "a worker or spare outlived stop()"
