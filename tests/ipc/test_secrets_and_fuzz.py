"""Held as regression tests (issue #19): the authkey and the worker's address are hidden from other
users, empty or non-UTF-8 control messages get an error while the worker keeps serving, and two
clients at once stay apart."""

from __future__ import annotations

import os
import stat

import pytest

from obs_faceswap.ipc import WorkerClient, control
from tests.ipc.util import PYTHON, wait_for
from tests.worker.test_fault_probes import _connect, _messages


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    from obs_faceswap.ipc import supervisor

    monkeypatch.setattr(supervisor, "SPARE_DELAY_S", 0.5)  # OBS waits 5 s before starting the spare
    c = WorkerClient(PYTHON, warm_spare=True).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def test_the_key_and_the_address_are_hidden_from_other_users(client) -> None:
    sup = client._supervisor
    key = sup.authkey.hex().encode()
    # the key went over stdin: another user (or `ps`) reading the command line or environment sees nothing
    assert wait_for(lambda: sup._spare is not None, 20)  # the warm spare waits for its key on stdin too
    pids = [client.worker_pid, sup._spare.pid]
    for pid in pids:
        for part in ("cmdline", "environ"):
            with open(f"/proc/{pid}/{part}", "rb") as f:
                assert key not in f.read(), (pid, part)
    folder = os.path.dirname(sup.address)
    st = os.stat(folder)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid(), oct(st.st_mode)
    assert stat.S_ISSOCK(os.stat(sup.address).st_mode)
    log = sup.log_path
    if os.path.exists(log):
        with open(log, "rb") as f:
            assert key not in f.read()  # nor in the worker's log


def test_empty_and_non_utf8_messages_get_an_error_and_the_worker_keeps_serving(tmp_path) -> None:
    lst, proc, conn = _connect(tmp_path)
    try:
        for data in (b"", b"\xff\xfe\x00{", b'{"type":"settings","channel":"1","settings":{}}', b'{"type":7}'):
            conn.send_bytes(data)
        got = _messages(conn, lambda g: sum(m["type"] == "error" for m in g) >= 4)
        errs = [m["message"] for m in got if m["type"] == "error"]
        assert len(errs) == 4, errs
        assert "malformed control message (0 bytes)" in errs[0]
        assert "malformed control message (4 bytes)" in errs[1] and "utf-8" in errs[1].lower()
        assert "channel must be a whole number" in errs[2] and "with a 'type'" in errs[3]
        assert proc.poll() is None
        assert any(m["type"] == "stats" for m in _messages(conn, lambda g: any(m["type"] == "stats" for m in g)))
        control.send(conn, {"type": "shutdown"})
        assert proc.wait(10) == 0
    finally:
        conn.close()
        lst.close()
        if proc.poll() is None:
            proc.kill()


def test_two_clients_at_once_each_get_their_own_frames() -> None:
    """Two OBS instances (or OBS and `live`) at once: separate workers, keys and segments; each
    client's frames come back to it alone, and stopping one leaves the other serving."""
    import numpy as np

    a = WorkerClient(PYTHON, max_result_age=5.0).start()
    b = WorkerClient(PYTHON, max_result_age=5.0).start()
    try:
        assert a.wait_ready(30) and b.wait_ready(30), (a.status, b.status)
        assert a.worker_pid != b.worker_pid and a._supervisor.address != b._supervisor.address
        va, vb = a.open_video(processor="invert"), b.open_video(processor="invert")
        for i in range(20):
            for video, value in ((va, 10 + i), (vb, 200 - i)):
                assert video.submit(np.full((32, 48, 4), value, np.uint8), 48, 32, 48 * 4, "BGRA", i)
            for video, value in ((va, 10 + i), (vb, 200 - i)):
                view = video.wait_result(10, video.submitted_seq)
                assert view is not None and view.tobytes()[0] == 255 - value, (i, video.status_text)
        a.stop()
        assert vb.submit(np.full((32, 48, 4), 7, np.uint8), 48, 32, 48 * 4, "BGRA", 99)
        view = vb.wait_result(10, vb.submitted_seq)
        assert view is not None and view.tobytes()[0] == 248 and b.running
    finally:
        a.stop()
        b.stop()


def test_a_link_to_a_fifo_elsewhere_is_not_a_wake_path(tmp_path) -> None:
    """A symlink in the client's folder that points at a FIFO outside it (another program's pipe) is
    refused: the worker never follows a link (O_NOFOLLOW), even when its target is a FIFO."""
    from obs_faceswap.ipc import wake

    folder, elsewhere = tmp_path / "client", tmp_path / "other"
    folder.mkdir()
    elsewhere.mkdir()
    os.mkfifo(elsewhere / "their-pipe", 0o600)
    (folder / "w0").symlink_to(elsewhere / "their-pipe")
    with pytest.raises(OSError):
        wake.WakePipe(str(folder / "w0"), folder=str(folder))
    os.mkfifo(folder / "w1", 0o600)  # a real FIFO in the folder is taken
    pipe = wake.WakePipe(str(folder / "w1"), folder=str(folder))
    pipe.notify()
    assert pipe.wait(1.0) is True
    pipe.close()
