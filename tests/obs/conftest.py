"""One real OBS Studio per test session (see harness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import HeadlessObs, have_tools

SPEECH_TEXT = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
               "Peter Piper picked a peck of pickled peppers.")


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng speech, 48 kHz mono 16-bit."""
    d = tmp_path_factory.mktemp("speech")
    raw, out = d / "raw.wav", d / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), SPEECH_TEXT], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(raw), "-ar", "48000", "-ac", "1", str(out)],
                   check=True)
    return out


@pytest.fixture(scope="session")
def obs(tmp_path_factory: pytest.TempPathFactory, astronaut_path: Path, speech_wav: Path) -> Iterator[HeadlessObs]:
    missing = have_tools()
    if missing:
        if os.environ.get("CI"):  # CI installs them (.ci/run): a missing one there is a broken CI, not a skip
            pytest.fail(f"real-OBS tests need these programs installed: {missing}")
        pytest.skip(f"real-OBS tests need these programs installed: {missing}")
    work = tmp_path_factory.mktemp("obs")
    cfg = work / "obs-faceswap.json"
    cfg.write_text(json.dumps({"python": sys.executable}))
    sources = [
        {"id": "image_source", "name": "Face", "settings": {"file": str(astronaut_path)}},
        {"id": "ffmpeg_source", "name": "Speech",
         "settings": {"local_file": str(speech_wav), "looping": True, "is_local_file": True}},
    ]
    # XDG_DATA_HOME: what the worker keeps (voice profiles, learned own voices) stays in the test's folder
    harness = HeadlessObs(work, sources, {"OBS_FACESWAP_CONFIG": str(cfg), "XDG_DATA_HOME": str(work / "data")})
    workers: list[int] = []
    segments: list[str] = []
    try:
        harness.start()
        yield harness
        workers, segments = harness.worker_pids(spares=True), harness.shared_memory()
    finally:
        harness.stop()
    log = harness.log_text()
    assert "Traceback" not in log, "Python traceback in the OBS log:\n" + log[-4000:]
    # OBS exit = script unload: the worker is stopped and every shared-memory segment removed
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()], "worker still running after OBS exit"
    left = [name for name in segments if Path("/dev/shm", name).exists()]
    assert not left, f"shared memory left behind after OBS exit: {left}"
