"""Fault probes against a real worker: hostile control messages, forged rings, dead channel threads,
descriptors past 1024, wake paths that are not FIFOs, too many channels, a log on a full disk."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import threading
import time
from multiprocessing.connection import Listener, Pipe

import numpy as np
import pytest

import obs_faceswap
from obs_faceswap.ipc import WorkerClient, control, wake
from obs_faceswap.ipc import audio as audio_ring
from obs_faceswap.worker import server as worker_server
from tests.ipc.util import PYTHON, fd_count, pid_alive, wait_for


@pytest.fixture
def client():
    lines: list[str] = []
    c = WorkerClient(PYTHON, log=lines.append, max_result_age=2.0).start()
    c.lines = lines  # type: ignore[attr-defined]
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def _roundtrip_inverted(video, seed: int = 0) -> None:
    frame = np.random.default_rng(seed).integers(0, 256, (64, 96, 4), dtype=np.uint8)
    assert video.submit(frame, 96, 64, 96 * 4, "BGRA", 0)
    view = video.wait_result(10, video.submitted_seq)
    assert view is not None, video.status_text
    out = np.frombuffer(view.tobytes(), np.uint8).reshape(64, 96, 4)
    assert np.array_equal(out[..., :3], 255 - frame[..., :3])


def _spawn(address: str, key: bytes, stderr) -> subprocess.Popen[str]:
    proc = subprocess.Popen([PYTHON, "-m", "obs_faceswap.worker", "--address", address,
                             "--parent-pid", str(os.getpid())], stdin=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdin is not None
    proc.stdin.write(key.hex() + "\n")
    proc.stdin.close()
    return proc


def _connect(tmp_path, stderr=subprocess.PIPE):
    key = control.new_authkey()
    address = str(tmp_path / "c.sock")
    lst = Listener(address, "AF_UNIX", authkey=key)
    proc = _spawn(address, key, stderr)
    conn = lst.accept()
    assert control.receive(conn)["type"] == "hello"
    control.send(conn, {"type": "hello", "protocol": obs_faceswap.PROTOCOL_VERSION, "pid": os.getpid()})
    return lst, proc, conn


def _messages(conn, want, timeout: float = 10.0) -> list[dict]:
    """Messages until ``want(list)`` holds (or the timeout)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while not want(got) and conn.poll(max(0.0, deadline - time.monotonic())):
        msg = control.receive(conn)
        if isinstance(msg, dict):
            got.append(msg)
    return got


def test_hostile_json_gets_an_error_and_the_worker_keeps_serving(tmp_path) -> None:
    lst, proc, conn = _connect(tmp_path)
    try:
        conn.send_bytes(b"[" * 200_000 + b"]" * 200_000)  # RecursionError in the JSON decoder
        conn.send_bytes(b'{"type":"settings","channel":Infinity,"settings":{}}')
        conn.send_bytes(b'{"type":"settings","channel":1e400,"settings":{}}')
        conn.send_bytes(b'{"type":"close_channel","channel":-1}')
        conn.send_bytes(b'{"type":"open_channel","channel":true,"kind":"video","shm":"x"}')
        conn.send_bytes(b'{"type":"open_channel","channel":3,"kind":"video","shm":["x"]}')
        conn.send_bytes(b'{"type":"settings","channel":3,"settings":[1,2]}')
        errs = [m["message"] for m in _messages(conn, lambda g: sum(m["type"] == "error" for m in g) >= 7)
                if m["type"] == "error"]
        assert len(errs) == 7, errs
        assert "nested too deeply" in errs[0]
        assert all("channel must be a whole number" in e for e in errs[1:5]), errs
        assert "segment name" in errs[5] and "JSON object" in errs[6]
        assert proc.poll() is None
        stats = _messages(conn, lambda g: any(m["type"] == "stats" for m in g))
        assert any(m["type"] == "stats" for m in stats)  # still serving
        control.send(conn, {"type": "shutdown"})
        assert proc.wait(10) == 0
    finally:
        conn.close()
        lst.close()
        if proc.poll() is None:
            proc.kill()


def test_a_misspelt_kind_leaves_the_existing_channel_running(client) -> None:
    video = client.open_video({}, processor="invert")
    _roundtrip_inverted(video)
    client._supervisor.post({**video._open_message(), "kind": "vidoe"})
    assert wait_for(lambda: any("unknown channel kind 'vidoe'" in e for e in client.errors), 10), client.errors
    _roundtrip_inverted(video, seed=1)  # the channel was not torn down


def test_forged_audio_ring_counters_do_not_kill_the_channel_or_the_worker(client) -> None:
    audio = client.open_audio(48000, 1, processor="noop")
    block = np.linspace(-0.5, 0.5, 960, dtype=np.float32)
    assert audio.push([block], 960)
    assert wait_for(lambda: audio.available() >= 960, 10)
    ring = audio._ring
    r = ring._ring("in")
    struct.pack_into("<Q", ring.segment.buf, r, 10**15)  # 'frames written' far past the ring's size
    ring.set_waiting("worker", False)
    client._supervisor.send_wake(audio.id)
    pid = client.worker_pid
    time.sleep(1.5)  # at least one stats tick reads this channel
    assert client.worker_pid == pid and pid_alive(pid)
    # the worker dropped the forged span and goes on from the producer's position
    struct.pack_into("<Q", ring.segment.buf, r, ring._u64(r + 8))
    audio.pull(audio.available())
    assert audio.push([block], 960)
    assert wait_for(lambda: audio.available() >= 960, 10), audio.status_text


def test_a_wake_path_that_is_not_a_fifo_is_never_written(tmp_path, client) -> None:
    bait = [tmp_path / "precious-1", tmp_path / "precious-2"]
    for p in bait:
        p.write_bytes(b"keep me")
    video = client.open_video({}, processor="invert")
    _roundtrip_inverted(video)
    client._supervisor.post({**video._open_message(), "wake": [str(p) for p in bait]})
    _roundtrip_inverted(video, seed=2)  # wake-ups fall back to the control connection
    _roundtrip_inverted(video, seed=3)
    assert all(p.read_bytes() == b"keep me" for p in bait)
    # and the FIFO opener itself refuses regular files and links, even inside the folder
    link = tmp_path / "link"
    link.symlink_to(bait[0])
    for p in (bait[0], link):
        with pytest.raises(OSError):
            wake.WakePipe(str(p), folder=str(tmp_path))
    with pytest.raises(OSError, match="not in the client's folder"):
        wake.WakePipe(str(bait[0]), folder=str(tmp_path / "elsewhere"))


def test_wake_pipe_sleeps_properly_with_descriptors_past_1024(tmp_path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1600:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    pipe = wake.WakePipe(str(tmp_path / "w"), create=True)
    high = os.dup2(pipe.fd, 1500)
    os.close(pipe.fd)
    pipe.fd = high
    pipe._poll = __import__("select").poll()
    pipe._poll.register(high, 1)
    try:
        t0 = time.monotonic()
        assert pipe.wait(0.3) is False
        assert time.monotonic() - t0 >= 0.25  # a real sleep, not select()'s ValueError turned into a spin
        pipe.notify()
        assert pipe.wait(1.0) is True
    finally:
        pipe.close()


def test_channels_per_client_are_limited_and_released_on_close(client) -> None:
    pid = client.worker_pid
    first = client.open_audio(48000, 1, processor="noop")
    assert wait_for(lambda: "kind" in first.worker_stats, 10)
    threads0 = len(os.listdir(f"/proc/{pid}/task"))
    fds0 = fd_count(pid)
    extra = [client.open_audio(16000, 1, processor="noop", capacity_ms=100)
             for _ in range(worker_server.MAX_CHANNELS + 4)]
    assert wait_for(lambda: sum("already serves" in e for e in client.errors) >= 5, 20), client.errors[-3:]
    assert pid_alive(pid) and client.worker_pid == pid
    for ch in extra:
        ch.close()
    assert wait_for(lambda: len(os.listdir(f"/proc/{pid}/task")) <= threads0 and fd_count(pid) <= fds0, 20), (
        len(os.listdir(f"/proc/{pid}/task")), threads0, fd_count(pid), fds0)
    block = np.zeros(480, np.float32)
    assert first.push([block], 480)
    assert wait_for(lambda: first.available() >= 480, 10)


def test_a_full_disk_under_the_log_is_reported_and_kills_nothing(tmp_path) -> None:
    with open("/dev/full", "w") as full:  # every write: ENOSPC
        lst, proc, conn = _connect(tmp_path, stderr=full)
    try:
        control.send(conn, {"type": "settings", "channel": 9, "settings": {}})  # an error the worker logs
        got = _messages(conn, lambda g: any("disk is full" in m.get("message", "") for m in g), timeout=15)
        assert any("worker log cannot be written" in m.get("message", "") and "disk is full" in m["message"]
                   for m in got), got
        assert proc.poll() is None
        control.send(conn, {"type": "shutdown"})
        assert proc.wait(10) == 0
    finally:
        conn.close()
        lst.close()
        if proc.poll() is None:
            proc.kill()


# -- in-process server: faults a real process cannot be made to show on demand ----------------

def _server():
    ours, theirs = Pipe()
    srv = worker_server.Server(theirs, None, stats_interval=0.1)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    return srv, ours, t


def _stats(conn, cid: int, timeout: float = 5.0, cond=lambda st: True) -> dict:
    deadline = time.monotonic() + timeout
    while conn.poll(max(0.0, deadline - time.monotonic())):
        msg = control.receive(conn)
        if isinstance(msg, dict) and msg["type"] == "stats" and str(cid) in msg["channels"]:
            st = msg["channels"][str(cid)]
            if cond(st):
                return st
    raise AssertionError("no matching stats")


def test_a_dead_channel_thread_is_restarted_and_stats_survive_it() -> None:
    ring = audio_ring.AudioRings.create(16000, 1, 4000)
    srv, conn, t = _server()
    try:
        control.send(conn, {"type": "open_channel", "channel": 5, "kind": "audio", "shm": ring.name,
                            "processor": "noop"})
        assert wait_for(lambda: 5 in srv.channels and srv.channels[5].thread.is_alive(), 5)
        dead = srv.channels[5]

        def boom() -> bool:
            raise RuntimeError("injected fault")
        dead._step = boom  # type: ignore[method-assign]
        dead.poke()
        assert wait_for(lambda: not dead.thread.is_alive(), 5)
        errors = _messages(conn, lambda g: any("injected fault" in m.get("message", "") for m in g), timeout=5)
        assert any(m["type"] == "error" and m.get("channel") == 5 for m in errors)
        st = srv._channel_stats(dead)  # what a stats tick reads of a dead channel (its ring is closed)
        assert st["passing_through"] is True and "injected fault" in st["last_error"]
        assert wait_for(lambda: srv.channels[5] is not dead and srv.channels[5].thread.is_alive(), 5)
        assert _stats(conn, 5)["kind"] == "audio"
        block = np.ones(320, np.float32)
        assert ring.push("in", [block], 320)
        srv.channels[5].poke()
        assert wait_for(lambda: ring.available("out") >= 320, 5)  # the restarted channel processes again
    finally:
        control.send(conn, {"type": "shutdown"})
        t.join(10)
        ring.segment.unlink()
        ring.close()


def test_stats_over_the_message_limit_still_reach_the_client() -> None:
    rings = [audio_ring.AudioRings.create(16000, 1, 1000) for _ in range(3)]
    srv, conn, t = _server()
    try:
        for i, ring in enumerate(rings):
            control.send(conn, {"type": "open_channel", "channel": i, "kind": "audio", "shm": ring.name,
                                "processor": "noop"})
        assert wait_for(lambda: len(srv.channels) == 3, 5)
        srv.channels[1].last_error = "x" * (2 * control.MAX_MESSAGE)
        seen: set[str] = set()
        deadline = time.monotonic() + 5
        while seen != {"0", "1", "2"} and conn.poll(max(0.0, deadline - time.monotonic())):
            msg = control.receive(conn)
            if isinstance(msg, dict) and msg["type"] == "stats":
                seen.update(msg["channels"])
                if "1" in msg["channels"]:
                    assert len(msg["channels"]["1"]["last_error"]) <= worker_server.STATS_ERROR_CHARS + 1
        assert seen == {"0", "1", "2"}
    finally:
        control.send(conn, {"type": "shutdown"})
        t.join(10)
        for ring in rings:
            ring.segment.unlink()
            ring.close()


def test_a_silent_connection_does_not_keep_a_restarted_worker_out(client) -> None:
    import signal
    import socket

    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(client._supervisor.address)  # connects, never answers the challenge
    try:
        old = client.worker_pid
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: client.running and client.worker_pid not in (None, old), 30), client.status
        video = client.open_video({}, processor="invert")
        _roundtrip_inverted(video)
    finally:
        silent.close()
