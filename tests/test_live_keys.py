"""Keys pressed quickly in the live preview window all count (issue #19: three quick '-' presses
lowered the blend by 20 %, not 30 %). Real preview window on Xvfb, real key presses (xdotool)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from obs_faceswap.live.outputs import WINDOW
from tests.test_live import ROOT, xvfb_display  # noqa: F401  (fixture)


def test_quick_key_presses_between_two_frames_all_count(xvfb_display: str,  # noqa: F811
                                                        astronaut_path: Path, tmp_path: Path) -> None:
    for tool in ("xdotool", "ffmpeg"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            pytest.skip(f"needs {tool}")
    # 2 frames a second: all four presses land while one frame is shown, as quick presses do on a
    # slow swap (the window used to be asked for a key once per frame, and kept only the last one)
    clip = tmp_path / "slow.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(astronaut_path), "-vf",
                    "scale=256:256,format=yuv420p", "-r", "2", "-t", "3", "-c:v", "libx264", str(clip)], check=True)
    env = {**os.environ, "DISPLAY": xvfb_display}
    proc = subprocess.Popen([sys.executable, "-m", "obs_faceswap", "live", "--source", str(astronaut_path),
                             "--input", str(clip), "--loop", "--in-process"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    try:
        found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", WINDOW], env=env,
                               capture_output=True, text=True, timeout=90)
        window = found.stdout.split()[0]
        subprocess.run(["xdotool", "key", "--window", window, "--delay", "80", "minus", "minus", "minus", "q"],
                       env=env, check=True, timeout=30)
        out, err = proc.communicate(timeout=60)  # 'q' ends the session
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    changes = [line for line in out.splitlines() if line.startswith("blend ")]
    assert changes == ["blend 90 %", "blend 80 %", "blend 70 %"], out
