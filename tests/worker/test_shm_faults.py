"""Fault probes on the shared memory itself: a full or small /dev/shm, and headers that lie about
the segment (issue #19). The /dev/shm probe runs the client and a real worker in a private mount
namespace whose /dev/shm is a 4 MiB tmpfs, so nothing outside the test is filled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

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
