"""Control protocol against a real worker process: handshake, bad messages, wrong key, version mismatch."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import pytest

import obs_faceswap
from obs_faceswap.errors import ProtocolError
from obs_faceswap.ipc import WorkerClient, control
from tests.ipc.util import PYTHON, pid_alive, wait_for


def _spawn(address: str, key: bytes) -> subprocess.Popen[str]:
    proc = subprocess.Popen([PYTHON, "-m", "obs_faceswap.worker", "--address", address,
                             "--parent-pid", str(os.getpid())],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(key.hex() + "\n")
    proc.stdin.close()
    return proc


@pytest.fixture
def listener(tmp_path):
    key = control.new_authkey()
    address = str(tmp_path / "c.sock")
    lst = Listener(address, "AF_UNIX", authkey=key)
    yield lst, address, key
    lst.close()


def _handshake(lst: Listener, address: str, key: bytes):
    proc = _spawn(address, key)
    conn = lst.accept()
    hello = control.receive(conn)
    assert hello["type"] == "hello" and hello["protocol"] == obs_faceswap.PROTOCOL_VERSION
    assert hello["pid"] == proc.pid
    control.send(conn, {"type": "hello", "protocol": obs_faceswap.PROTOCOL_VERSION, "pid": os.getpid()})
    return proc, conn


def _errors(conn, n: int, timeout: float = 10.0) -> list[str]:
    out: list[str] = []
    while len(out) < n and conn.poll(timeout):
        msg = control.receive(conn)
        if isinstance(msg, dict) and msg["type"] == "error":
            out.append(msg["message"])
    return out


def test_malformed_messages_get_clear_errors_and_the_worker_survives(listener) -> None:
    lst, address, key = listener
    proc, conn = _handshake(lst, address, key)
    try:
        conn.send_bytes(b"this is not json")
        conn.send_bytes(b"[1, 2, 3]")
        conn.send_bytes(b'{"type": "bogus"}')
        control.send(conn, {"type": "open_channel"})  # no fields
        control.send(conn, {"type": "open_channel", "channel": 1, "kind": "video", "shm": "ofs_" + "0" * 24})
        control.send(conn, {"type": "open_channel", "channel": 2, "kind": "video", "shm": "../../etc/passwd"})
        control.send(conn, {"type": "settings", "channel": 42, "settings": {}})
        errs = _errors(conn, 7)
        assert len(errs) == 7, errs
        assert "malformed" in errs[0] and "malformed" in errs[1]
        assert "unknown control message type 'bogus'" in errs[2]
        assert "bad open_channel message" in errs[3]
        assert "cannot open channel 1" in errs[4]
        assert "not an obs-faceswap segment name" in errs[5]
        assert "no channel 42" in errs[6]
        assert proc.poll() is None
        # still serving: stats and heartbeats keep coming
        kinds = set()
        while len(kinds) < 2 and conn.poll(5):
            msg = control.receive(conn)
            kinds.add(msg["type"] if isinstance(msg, dict) else "wake")
        assert {"stats", "heartbeat"} <= kinds
        control.send(conn, {"type": "shutdown"})
        assert proc.wait(10) == 0
    finally:
        conn.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_oversized_message_is_refused_and_the_worker_exits_cleanly(listener) -> None:
    lst, address, key = listener
    proc, conn = _handshake(lst, address, key)
    try:
        conn.send_bytes(b"{" + b" " * (control.MAX_MESSAGE + 10) + b"}")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the worker hung up after reading the length: that is the refusal
    assert proc.wait(10) == 4
    assert "larger than" in proc.stderr.read()
    conn.close()
    with pytest.raises(ProtocolError, match="too large"):
        control.send(conn, {"type": "settings", "settings": {"x": "y" * control.MAX_MESSAGE}})


def test_worker_with_a_wrong_authkey_is_refused(listener) -> None:
    lst, address, _ = listener
    proc = _spawn(address, b"\x01" * 32)
    with pytest.raises(AuthenticationError):
        lst.accept()
    assert proc.wait(10) == 3
    assert "wrong key" in proc.stderr.read()


def test_worker_refuses_a_client_of_another_protocol_version(listener) -> None:
    lst, address, key = listener
    proc = _spawn(address, key)
    conn = lst.accept()
    assert control.receive(conn)["type"] == "hello"
    control.send(conn, {"type": "hello", "protocol": 999, "pid": os.getpid()})
    msg = control.receive(conn)
    assert msg["type"] == "error" and msg["fatal"] and "protocol 999" in msg["message"]
    assert proc.wait(10) == 4
    conn.close()


def test_client_reports_a_worker_of_another_protocol_version(tmp_path) -> None:
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\n"
        f'exec {sys.executable} -c "import sys, obs_faceswap; obs_faceswap.PROTOCOL_VERSION = 999; '
        'from obs_faceswap.worker.server import main; sys.exit(main(sys.argv[3:]))" "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    lines: list[str] = []
    client = WorkerClient(str(fake), log=lines.append, startup_timeout=20).start()
    try:
        video = client.open_video({}, processor="noop")
        assert wait_for(lambda: "protocol" in client.status, 20), client.status
        assert "speaks protocol 999" in client.status and "installer" in client.status
        assert not client.running
        assert video.submit(b"\0" * 64, 4, 4, None, "BGRA") is False  # bypass, no exception
        assert video.result() is None
        assert any("protocol 999" in line for line in lines)
    finally:
        client.stop()


def test_rogue_connection_with_a_wrong_key_does_not_disturb_the_client() -> None:
    lines: list[str] = []
    client = WorkerClient(PYTHON, log=lines.append).start()
    try:
        assert client.wait_ready(30), client.status
        pid = client.worker_pid
        with pytest.raises(AuthenticationError):
            Client(client._supervisor.address, "AF_UNIX", authkey=b"wrong" * 8)
        video = client.open_video({}, processor="invert")
        frame = bytes(range(256)) * 4  # 16x16 BGRA
        assert video.submit(frame, 16, 16, None, "BGRA")
        view = video.wait_result(10)
        assert view is not None and view.tobytes()[:3] == bytes([255, 254, 253])
        assert client.worker_pid == pid and pid_alive(pid)
        assert wait_for(lambda: any("wrong authkey" in line for line in lines), 5)
    finally:
        client.stop()


def test_missing_interpreter_or_dependencies_are_reported(tmp_path) -> None:
    client = WorkerClient(str(tmp_path / "no-such-python")).start()
    try:
        assert wait_for(lambda: "cannot start the worker" in client.status, 10), client.status
        assert not client.running
    finally:
        client.stop()
    bare = tmp_path / "python"  # a real interpreter without site-packages: no numpy
    bare.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    bare.chmod(bare.stat().st_mode | stat.S_IEXEC)
    client = WorkerClient(str(bare)).start()
    try:
        video = client.open_video({}, processor="noop")
        assert wait_for(lambda: "lacks numpy" in client.status, 20), client.status
        assert "code 5" in client.status and "installer" in client.status
        assert video.submit(b"\0" * 64, 4, 4) is False
    finally:
        client.stop()
