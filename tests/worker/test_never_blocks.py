"""The per-frame path (``submit``/``result``/``push``/``pull``) never waits on the worker.

These are deadlock tests, not timing tests: the worker is frozen with SIGSTOP (it reads nothing),
its control socket and wake-up FIFOs are filled to the brim, and 2000 rounds of per-frame calls
run in a thread. A call that ever waits on the worker hangs for good, so the thread does not end
within the (generous) join limit and the test fails; a fast call passes however slow the machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient, control, wake
from tests.ipc.util import PYTHON, wait_for

ROUNDS = 2000
JOIN_LIMIT = 20.0  # only a call that waits on the frozen worker gets anywhere near this
W, H = 160, 120
AUDIO_BLOCK = 480


def _run_per_frame(video, audio, rounds: int = ROUNDS, *, worker_waiting: bool = True) -> list[BaseException]:  # noqa: ANN001
    """``rounds`` × (submit, result, push, pull) in a thread named 'per-frame'; fails if it does not end."""
    frame = np.full((H, W, 4), 77, np.uint8)
    left = np.zeros(AUDIO_BLOCK, np.float32)
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            for i in range(rounds):
                if worker_waiting:  # as if the worker had gone to sleep before every frame: each
                    if video._chan is not None:  # submit/push then has to wake it
                        video._chan.set_waiting("worker", True)
                    audio._ring.set_waiting("worker", True)
                video.submit(frame, W, H, W * 4, "BGRA", i)
                video.result()
                audio.push([left], AUDIO_BLOCK, i)
                audio.pull(AUDIO_BLOCK)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    t = threading.Thread(target=loop, name="per-frame", daemon=True)
    t.start()
    t.join(JOIN_LIMIT)
    assert not t.is_alive(), "a per-frame call is waiting on the worker (deadlock)"
    return errors


def _fill_socket(conn) -> int:  # noqa: ANN001
    """Write whole heartbeat messages into the control socket until the kernel refuses more
    (the frozen worker reads none of them). Returns the bytes queued."""
    payload = control.encode({"type": "heartbeat", "t": 0, "pad": "x" * 2000})
    msg = struct.pack("!i", len(payload)) + payload
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    queued = 0
    try:
        while True:
            try:
                n = sock.send(msg, socket.MSG_DONTWAIT)  # non-blocking for this call only
            except BlockingIOError:
                return queued
            queued += n
            if n < len(msg):  # a partial message: the stream is now unusable, the worker gets killed
                return queued
    finally:
        sock.close()


def _fill_fifo(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                os.write(fd, b"\1" * 4096)
            except BlockingIOError:
                return
    finally:
        os.close(fd)


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] == "T"


@contextlib.contextmanager
def _client(**kw: object) -> Iterator[WorkerClient]:
    c = WorkerClient(PYTHON, log=lambda _m: None, **kw).start()  # type: ignore[arg-type]
    try:
        yield c
    finally:
        pid = c._supervisor.proc.pid if c._supervisor.proc is not None else None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        c.stop()


def _roundtrip_inverted(video) -> None:  # noqa: ANN001
    frame = np.random.default_rng(3).integers(0, 256, (H, W, 4), dtype=np.uint8)
    assert video.submit(frame, W, H, W * 4, "BGRA")
    view = video.wait_result(30, video.submitted_seq)
    assert view is not None, video.status_text
    out = np.frombuffer(view.tobytes(), np.uint8).reshape(H, W, 4)
    assert np.array_equal(out[..., :3], 255 - frame[..., :3])


@pytest.mark.parametrize("fifo", [True, False], ids=["wake-fifo", "wake-over-socket"])
def test_frozen_worker_with_full_socket_and_pipes_never_blocks_a_frame(fifo: bool, monkeypatch) -> None:  # noqa: ANN001
    """``wake-over-socket`` is the path Windows takes (no FIFOs): wake-ups then ride on the control
    connection, which a frozen worker has filled up."""
    if not fifo:
        monkeypatch.setattr(wake, "AVAILABLE", False)
    # hang_timeout: the supervisor must not rescue a blocked call by killing the worker mid-test
    with _client(hang_timeout=600) as client:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="invert")
        audio = client.open_audio(48000, 1, {}, processor="noop")
        _roundtrip_inverted(video)
        assert (video._to_worker is not None) == fifo
        pid = client.worker_pid
        os.kill(pid, signal.SIGSTOP)
        assert wait_for(lambda: _stopped(pid), 5)
        queued = _fill_socket(client._supervisor.conn)
        assert queued > 0
        if fifo:
            for ch in (video, audio):
                _fill_fifo(ch._to_worker.path)
        errors = _run_per_frame(video, audio)
        assert not errors, errors
        assert _stopped(pid) and client.running  # the worker stayed frozen and unnoticed throughout
        assert video.counters["submitted"] == ROUNDS + 1  # every frame went into shared memory...
        assert audio.counters["overruns"] > 0  # ...and audio was refused once the ring was full
        assert audio.counters["underruns"] > 0  # nothing came back: the caller plays its dry input
        # the hung worker is killed (here by hand; the supervisor does it after hang_timeout) and
        # the same channels work again on the new one
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: client.running and client.worker_pid not in (None, pid), 30), client.status
        _roundtrip_inverted(video)


def test_per_frame_calls_never_block_while_the_worker_cannot_start() -> None:
    """Worker down (its Python does not exist: the supervisor keeps retrying with back-off)."""
    client = WorkerClient("/nonexistent/python", log=lambda _m: None).start()
    try:
        video = client.open_video({}, processor="invert")
        audio = client.open_audio(48000, 1, {}, processor="noop")
        assert not client.running
        errors = _run_per_frame(video, audio, worker_waiting=False)
        assert not errors, errors
        assert video.counters["bypassed"] == ROUNDS and video.counters["submitted"] == 0
        assert audio.counters["bypassed"] == ROUNDS
        assert "cannot start the worker" in client.status or client.status == "starting worker", client.status
    finally:
        client.stop()


class _GuardedConnection:
    """Forwards to the real control connection, but raises when the per-frame thread uses it."""

    def __init__(self, conn) -> None:  # noqa: ANN001
        self._conn = conn
        self.misuse: list[str] = []
        self.users: set[str] = set()

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._conn, name)
        if name not in ("send_bytes", "send", "recv_bytes", "recv", "poll"):
            return attr

        def guarded(*a: object, **k: object) -> object:
            who = threading.current_thread().name
            if who == "per-frame":
                self.misuse.append(name)
                raise AssertionError(f"the per-frame path called conn.{name}() (can block on the worker)")
            self.users.add(who)
            return attr(*a, **k)  # type: ignore[operator]

        return guarded


@pytest.mark.parametrize("fifo", [True, False], ids=["wake-fifo", "wake-over-socket"])
def test_per_frame_path_never_touches_the_control_connection(fifo: bool, monkeypatch) -> None:  # noqa: ANN001
    if not fifo:
        monkeypatch.setattr(wake, "AVAILABLE", False)
    with _client() as client:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="invert")
        audio = client.open_audio(48000, 1, {}, processor="noop")
        _roundtrip_inverted(video)
        sup = client._supervisor
        guard = _GuardedConnection(sup.conn)
        sup.conn = guard  # type: ignore[assignment]
        errors = _run_per_frame(video, audio, rounds=300)
        assert not errors and not guard.misuse, (errors, guard.misuse)
        # the worker was woken and answers the last frame and the audio pushed by those calls
        assert wait_for(lambda: (v := video.result()) is not None and v.seq == video.submitted_seq, 10)
        assert wait_for(lambda: audio.available() > 0, 10)
        assert guard.users <= {"obs-faceswap-sender"}, guard.users  # the only writer of the socket
        sup.conn = guard._conn


def test_a_hung_worker_with_a_full_socket_is_still_replaced() -> None:
    """The supervisor's hang detection must not sit behind a write to a socket nobody reads: the
    sender thread blocks on it, the supervisor still kills the silent worker, and the blocked
    write fails with it."""
    lines: list[str] = []
    client = WorkerClient(PYTHON, log=lines.append, hang_timeout=1.5).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="invert")
        _roundtrip_inverted(video)
        pid = client.worker_pid
        os.kill(pid, signal.SIGSTOP)
        assert wait_for(lambda: _stopped(pid), 5)
        _fill_socket(client._supervisor.conn)
        video.update({"blend": 50})  # queued behind the full socket: the sender thread blocks on it
        assert wait_for(lambda: client.running and client.worker_pid not in (None, pid), 30), client.status
        assert any("stopped answering" in line for line in lines), lines
        _roundtrip_inverted(video)  # the new worker got the channel (and the blocked sender moved on)
        assert video.settings["blend"] == 50
    finally:
        client.stop()
