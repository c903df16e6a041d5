"""Absurd values and hostile paths sent as settings to a real worker (issue #19, held as regression
tests): each is refused with a line naming the setting, nothing blocks on a pipe or a device, the
channel keeps the previous look and keeps answering frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.ipc import WorkerClient
from obs_faceswap.settings import FACE_SETTINGS
from tests.ipc.util import PYTHON, wait_for


@pytest.fixture
def client():
    c = WorkerClient(PYTHON, max_result_age=5.0).start()
    assert c.wait_ready(30), c.status
    yield c
    c.stop()


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 10**400, "1e999", [1], {"a": 1}])
def test_every_number_setting_refuses_absurd_values_by_name(value: object) -> None:
    for spec in FACE_SETTINGS.by_name.values():
        if spec.kind not in ("int", "float"):
            continue
        try:
            got = spec.coerce(value)
        except ValueError as exc:  # not OverflowError/TypeError: those were raw messages without the name
            assert f"setting {spec.name!r}: cannot use" in str(exc) and len(str(exc)) < 200, str(exc)
        else:  # a float infinity is clamped into the range like any other out-of-range panel value
            assert spec.minimum is not None and spec.minimum <= got <= spec.maximum, (spec.name, got)


def test_absurd_values_and_hostile_paths_are_refused_and_the_channel_keeps_going(
        client, tmp_path: Path, astronaut_path: Path) -> None:
    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)  # reading it would block the channel for good
    base = {"source_image": str(astronaut_path), "swapper": "embedded", "blend": 100}
    video = client.open_video(base, processor="face")
    frame = np.zeros((64, 64, 4), np.uint8)
    assert video.submit(frame, 64, 64, 256, "BGRA", 0)
    assert wait_for(lambda: video.stats.get("settings_version", 0) >= 1, 60), video.stats
    assert video.stats["last_error"] == ""
    cases = [({"blend": float("inf")}, "setting 'blend': cannot use inf"),
             ({"blend": float("nan")}, "setting 'blend': cannot use nan"),
             ({"source_image": str(fifo)}, "face.png is not a regular file (a pipe or a device)"),
             ({"source_image": "/dev/zero"}, "/dev/zero is not a regular file (a pipe or a device)"),
             ({"source_image": str(tmp_path)}, "is a folder, not an image")]
    for version, (bad, shown) in enumerate(cases, start=2):
        video.update({**base, **bad})
        assert wait_for(lambda v=version: video.stats.get("settings_version", 0) >= v, 20), (bad, video.stats)
        err = video.stats["last_error"]
        assert f"kept previous settings ({next(iter(bad))})" in err and shown in err, (bad, err)
        assert video.submit(frame, 64, 64, 256, "BGRA", 0)
        assert video.wait_result(10, video.submitted_seq) is not None, (bad, video.status_text)
    video.update(base)  # back to the running values: nothing is wrong any more
    assert wait_for(lambda: video.stats.get("settings_version", 0) >= len(cases) + 2, 20)
    assert video.stats["last_error"] == "" and client.running
