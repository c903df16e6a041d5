"""``swap-video --ray`` on a real local Ray cluster (2 CPUs, started once for the module)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from obs_faceswap.cli import main
from obs_faceswap.video.codec import EncodeOptions
from obs_faceswap.video.job import swap_video_file
from obs_faceswap.vision.options import FaceOptions
from tests.video.conftest import EXACT, assert_same_timing_and_audio, frames

if os.environ.get("CI"):  # CI installs the ray extra (.ci/run): there a missing Ray is a broken CI, not a skip
    import ray
else:
    ray = pytest.importorskip("ray")

@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_writes_the_frames_of_jobs_1_with_audio_and_timing(cluster: Any, jobs1: Path, source_photo: Path,
                                                                 moving_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray.mp4"
    assert main(["swap-video", "-s", str(source_photo), "-i", str(moving_clip), "-o", str(out), "--ray",
                 *EXACT]) == 0
    assert np.array_equal(frames(out), frames(jobs1))
    assert_same_timing_and_audio(moving_clip, out)
    assert [p.name for p in tmp_path.iterdir()] == ["ray.mp4"]


def test_a_killed_ray_worker_is_retried_and_the_video_is_complete(cluster: Any, jobs1: Path,
                                                                    source_photo: Path, moving_clip: Path,
                                                                    tmp_path: Path) -> None:
    from obs_faceswap.models.session import sessions_created
    from obs_faceswap.video.ray_runner import RayRunner

    options = FaceOptions.from_settings({"source_image": str(source_photo), "color_method": "none"})
    driver = sessions_created()
    runner = RayRunner(options)
    assert len({r.pid for r in runner.ready}) == len(runner.actors) and os.getpid() not in runner.actor_pids()
    killed: list[int] = []

    def kill_once(segment: int, written: int) -> None:
        # mid-segment: started, at most half of its 6 frames written, so the kill lands before the segment
        # can finish (a kill at frame 5 could race the segment's last frame on a loaded machine)
        pid = runner.pid_running(segment) if not killed and written < 3 else None
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    runner.on_progress = kill_once
    out = tmp_path / "ray.mp4"
    try:
        report = swap_video_file(moving_clip, out, runner, EncodeOptions(crf=0), segment_frames=6, progress=False)
        pids_after = runner.actor_pids()
    finally:
        runner.close()
    assert sessions_created() == driver  # the models load in the Ray workers only
    assert killed and killed[0] not in pids_after  # the worker really died and was replaced
    assert max(runner.attempts.values()) == 2, runner.attempts  # the killed worker's segment ran again
    assert report.frames == len(frames(jobs1))
    assert np.array_equal(frames(out), frames(jobs1))
    assert_same_timing_and_audio(moving_clip, out)


def test_sigterm_during_a_ray_run_stops_it_cleanly(cluster: Any, source_photo: Path, moving_clip: Path,
                                                   tmp_path: Path) -> None:
    """Ray's calls turn a signal handler's exception into KeyboardInterrupt: the command must still
    say which signal stopped it, exit 128 + 15, and leave nothing behind."""
    import subprocess
    import sys
    import time

    long_clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "30", "-i", str(moving_clip), "-c", "copy",
                    str(long_clip)], check=True)
    outdir = tmp_path / "out"
    outdir.mkdir()
    address = cluster.get_runtime_context().gcs_address  # this test's cluster, not any other on the machine
    proc = subprocess.Popen([sys.executable, "-m", "obs_faceswap", "swap-video", "-s", str(source_photo),
                             "-i", str(long_clip), "-o", str(outdir / "o.mp4"), "--ray", address, "-q"],
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while not list(outdir.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3)  # segments are running on the cluster now
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert list(outdir.iterdir()) == []
