"""The headless-OBS host the real-OBS tests and ``bench obs`` share: ready means usable, and a
script that fails to load fails the start at once with its reason instead of a long wait."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from obs_faceswap.bench.obs_host import FILTER_KINDS, HeadlessObs, missing_programs

pytestmark = [pytest.mark.obs]


@pytest.fixture(autouse=True)
def _programs() -> None:
    if missing_programs():
        pytest.skip(f"needs {', '.join(missing_programs())} installed")


def test_ready_means_the_scene_and_our_filter_kinds_are_there(tmp_path: Path, astronaut_path: Path) -> None:
    obs = HeadlessObs(tmp_path, [{"id": "image_source", "name": "Face", "settings": {"file": str(astronaut_path)}}],
                      {"OBS_FACESWAP_CONFIG": str(tmp_path / "none.json")}, canvas=(320, 240))
    with obs:
        # the first requests after start() work: no "NotReady", the source is in the scene, our kinds exist
        items = obs.call("GetSceneItemList", {"sceneName": "Scene"})["sceneItems"]
        assert [i["sourceName"] for i in items] == ["Face"]
        assert obs.call("GetVideoSettings")["baseWidth"] == 320
        obs.add_filter("Face", "Face Swap", "obs_faceswap_video", {"enabled": False})
        kinds = [f["filterKind"] for f in obs.call("GetSourceFilterList", {"sourceName": "Face"})["filters"]]
        assert kinds == ["obs_faceswap_video"]
        assert all(f"registered filter {k} " in obs.log_text() for k in FILTER_KINDS)


def test_a_script_that_fails_to_load_fails_the_start_with_its_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken_script.py"
    broken.write_text("raise RuntimeError('this script is broken on purpose')\n")
    obs = HeadlessObs(tmp_path, [], {}, script=broken)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="broken on purpose"):
        with obs:
            pass
    assert time.monotonic() - t0 < 60  # the reason at once, not the full readiness deadline (120 s)
