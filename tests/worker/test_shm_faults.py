"""Fault probes on the shared memory itself: a full or small /dev/shm, and headers that lie about
the segment (issue #19). The /dev/shm probe runs the client and a real worker in a private mount
namespace whose /dev/shm is a 4 MiB tmpfs, so nothing outside the test is filled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time

import pytest

from tests.ipc.util import PYTHON

_SMALL_SHM = textwrap.dedent("""
    import json, time
    import numpy as np
    from obs_faceswap.ipc import WorkerClient

    c = WorkerClient(%r, max_result_age=5.0).start()
    assert c.wait_ready(60), c.status
    out = {}
    video = c.open_video(processor="invert")
    big = np.zeros((1080, 1920, 4), np.uint8)  # 5 slots of 8 MiB: no room in 4 MiB
    out["big"] = [video.submit(big, 1920, 1080, 1920 * 4, "BGRA", 0) for _ in range(4)]
    out["video_status"] = video.status_text
    time.sleep(1.1)  # the next try at a segment comes after a second
    small = np.full((32, 48, 4), 10, np.uint8)  # fits: the channel works again
    out["small"] = video.submit(small, 48, 32, 48 * 4, "BGRA", 0)
    view = video.wait_result(20, video.submitted_seq)
    out["small_result"] = None if view is None else int(view.tobytes()[0])
    audio = c.open_audio(48000, 2, processor="noop", capacity_ms=30000)  # 2 x 2 x 30 s: 23 MiB
    block = [np.zeros(480, np.float32).tobytes()] * 2
    out["audio_push"] = [audio.push(block, 480) for _ in range(3)]
    out["audio_pull"] = audio.pull(480) is not None
    out["audio_status"] = audio.status_text
    out["running"] = c.running
    c.stop()
    print(json.dumps(out))
""")


def test_a_small_dev_shm_passes_through_with_a_clear_status(tmp_path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) for a private /dev/shm")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available here: {probe.stderr.decode().strip()}")
    script = tmp_path / "probe.py"
    script.write_text(_SMALL_SHM % PYTHON)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", ""))
                                                       if p)}
    res = subprocess.run(["unshare", "-rm", "sh", "-c",
                          f"mount -t tmpfs -o size=4m tmpfs /dev/shm && exec {PYTHON} {script}"],
                         capture_output=True, text=True, timeout=120, env=env)
    # before: SIGBUS (exit -7 / 135) at the first write to a page /dev/shm had no room for
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["big"] == [False] * 4
    assert "no room for" in out["video_status"] and "/dev/shm" in out["video_status"]
    assert "passing through" in out["video_status"]
    assert out["small"] is True and out["small_result"] == 245  # inverted: the channel recovered
    assert out["audio_push"] == [False] * 3 and out["audio_pull"] is False
    assert "no room for" in out["audio_status"] and "passing through" in out["audio_status"]
    assert out["running"] is True  # the worker is fine: only the segments did not fit


# ------------------------------------------------------------------ headers that lie

import struct  # noqa: E402

import numpy as np  # noqa: E402

from obs_faceswap.ipc import WorkerClient  # noqa: E402
from obs_faceswap.ipc.frames import _OFF_IN_LATEST, FrameChannel  # noqa: E402


def test_a_header_that_points_outside_the_segment_is_never_used() -> None:
    client = FrameChannel.create(64 * 48 * 4)
    worker = FrameChannel.attach(client.name)
    try:
        frame = np.full((48, 64, 4), 7, np.uint8)
        client.write_frame("in", frame, 64, 48, None, 1, seq=1)
        index, hdr = worker.claim("in")  # type: ignore[misc]
        worker.begin_in_place(index)
        worker.commit_write("out", index, seq=1, timestamp=0, width=64, height=48, fmt=1,
                            strides=[2**30], offsets=[0], nbytes=hdr.nbytes)  # a client copying this segfaulted
        assert client.claim("out") is None and client.refused_headers == 1
        client.write_frame("in", frame, 64, 48, None, 1, seq=2)
        index, hdr = worker.claim("in", 1)  # type: ignore[misc]
        worker.begin_in_place(index)
        worker.commit_write("out", index, seq=2, timestamp=0, width=64, height=48, fmt=1,
                            strides=hdr.strides, offsets=hdr.offsets, nbytes=2**40)  # nbytes past the slot
        assert client.claim("out") is None and client.refused_headers == 2
        i = client.write_frame("in", frame, 64, 48, None, 1, seq=3)  # the worker side checks the same way
        struct.pack_into("<I", client.segment.buf, client.slot_offset("in", i) + 8 + 8 + 8 + 12 + 4, 2**30)
        assert worker.claim("in", 2) is None and worker.refused_headers == 1
    finally:
        worker.close()
        client.segment.unlink()
        client.close()


@pytest.fixture
def client():
    c = WorkerClient(PYTHON, max_result_age=5.0).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


def _roundtrip(video, value: int) -> bool:
    frame = np.full((32, 48, 4), value, np.uint8)
    assert video.submit(frame, 48, 32, 48 * 4, "BGRA", 0)
    view = video.wait_result(5, video.submitted_seq)
    return view is not None and view.tobytes()[0] == 255 - value


def test_forged_slot_index_and_sequence_numbers_do_not_stop_a_channel(client) -> None:
    video = client.open_video(processor="invert")
    assert _roundtrip(video, 10)
    pid = client.worker_pid
    chan = video._chan
    # a slot index far outside the pool: the worker's channel thread used to die on it for good
    struct.pack_into("<i", chan.segment.buf, _OFF_IN_LATEST, 1000)
    video._wake_worker()
    time.sleep(1.5)  # past a stats tick: a channel thread that died on it would be reported and restarted
    assert _roundtrip(video, 20)
    assert client.errors == [], client.errors  # refused, not survived by a thread restart
    # an input numbered 2**64 - 1: the worker took only greater numbers afterwards, i.e. none
    chan.write_frame("in", np.zeros((32, 48, 4), np.uint8), 48, 32, None, 1, seq=2**64 - 1)
    video._wake_worker()
    time.sleep(0.3)
    assert _roundtrip(video, 30) and _roundtrip(video, 40)
    # a result numbered 2**64 - 1: the client took only greater numbers afterwards, i.e. none
    forger = FrameChannel.attach(chan.name)
    try:
        index = forger.latest("out")
        hdr = forger.header("out", index)
        forger.commit_write("out", index, seq=2**64 - 1, timestamp=0, width=hdr.width, height=hdr.height,
                            fmt=hdr.fmt, strides=hdr.strides, offsets=hdr.offsets, nbytes=hdr.nbytes)
    finally:
        forger.close()
    view = video.result()
    assert view is None or view.seq < 2**64 - 1  # never shown, never remembered
    assert _roundtrip(video, 50) and _roundtrip(video, 60)
    assert client.worker_pid == pid  # no restart was needed
    assert client.errors == [], client.errors
