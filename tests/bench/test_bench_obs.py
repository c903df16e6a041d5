"""``bench obs`` in a real headless OBS: one short run (720p, short windows) gives every row, sane."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from obs_faceswap.bench.obs_host import missing_programs
from tests.obs.harness import ROOT

pytestmark = [pytest.mark.obs, pytest.mark.slow]


def test_bench_obs_reports_render_time_skips_and_slider_latency() -> None:
    missing = missing_programs("ffmpeg")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"bench obs needs {', '.join(missing)} (CI installs them)")
        pytest.skip(f"bench obs needs {', '.join(missing)} installed")
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "bench", "obs", "--sizes", "1280x720",
                          "--window", "2", "--rounds", "1", "--warmup", "1", "--slider-tries", "1", "--json", "-q"],
                         capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    data = json.loads(res.stdout)
    print(f"\nbench obs (short): {data}")
    for variant in ("baseline", "filter", "async"):
        # OBS ticks at 30 fps: a 2 s window (a little more when a GetStats answer is late) holds about 60
        # frames, skipped ones included, each rendered in well under a second
        assert 0 < data[f"render_ms_{variant}_720p"] < 1000, data
        assert 30 <= data[f"frames_{variant}_720p"] <= 150, data
        assert 0 <= data[f"skipped_{variant}_720p"] <= data[f"frames_{variant}_720p"], data
    for variant in ("filter", "async"):
        # the worker really swapped the face (the bench waited for it on screen) and says how fast
        assert data[f"worker_fps_{variant}_720p"] > 0 and data[f"worker_ms_{variant}_720p"] > 0, data
        # one round: the added time is the filter's block less the baseline block
        assert data[f"added_ms_{variant}_720p"] == pytest.approx(
            data[f"render_ms_{variant}_720p"] - data["render_ms_baseline_720p"], abs=0.02)
    # blend 100 -> 0 showed the original face again: measured, within the bench's 30 s wait
    assert 0 <= data["slider_latency_ms"] < 30_000 and data["slider_screenshot_ms"] > 0, data
    assert data["slider_frames_between"] >= 0 and data["slider_canvas"] == "1280x720"


def test_bench_obs_without_obs_says_what_to_install(tmp_path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no obs, no Xvfb, no ffmpeg on this PATH
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "bench", "obs", "--json"], capture_output=True,
                         text=True, timeout=120, cwd=str(ROOT), env=env)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "obs, Xvfb, ffmpeg" in lines[0] and "apt-get install obs-studio" in lines[0], lines
