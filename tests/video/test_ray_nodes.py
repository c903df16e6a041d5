"""``swap-video --ray ADDRESS`` on a cluster of two Ray nodes started the way docs/video.md says
(``ray start --head``, then ``ray start --address``): real processes on this machine, one CPU each,
so the two segment workers run on different nodes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.video.conftest import EXACT, assert_same_timing_and_audio, frames

if not os.environ.get("CI"):  # CI installs the ray extra (.ci/run): there a missing Ray is a broken CI
    pytest.importorskip("ray")

START_WITHIN = 60.0  # seconds for both nodes to come up; a machine too busy for that skips the test
ROOT = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray(*args: str) -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts", *args]


def _own_ports() -> list[str]:
    """Ports of a node's agents: the defaults are fixed numbers, which two nodes on one machine (and
    other clusters on it) would share."""
    return [f"--dashboard-agent-listen-port={_port()}", f"--dashboard-agent-grpc-port={_port()}",
            f"--metrics-export-port={_port()}", f"--runtime-env-agent-port={_port()}"]


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[tuple[str, dict[str, str]]]:
    """(address of the head, environment to reach it) of a head and a worker node, one CPU each.
    ``--block`` keeps each ``ray start`` in the foreground: stopping it stops its node's processes."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _port()
    node = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--block"]
    procs: list[subprocess.Popen[bytes]] = []
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_WITHIN
        procs.append(subprocess.Popen(
            _ray("start", "--head", f"--port={port}", "--include-dashboard=false", f"--dashboard-port={_port()}",
                 f"--temp-dir={temp}", *node, *_own_ports()),
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        procs.append(subprocess.Popen(_ray("start", f"--address={address}", *node, *_own_ports()),
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        while time.monotonic() < deadline:
            res = subprocess.run(_ray("status", f"--address={address}"), env=env, capture_output=True, text=True)
            if res.returncode == 0 and res.stdout.count(" node_") == 2 and "0.0/2.0 CPU" in res.stdout:
                break
            if any(p.poll() is not None for p in procs):
                pytest.fail("a 'ray start' ended: the cluster could not start")
            time.sleep(1)
        else:
            pytest.skip(f"the two Ray nodes did not come up within {START_WITHIN:.0f} s (a busy machine)")
        yield address, env
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_two_node_cluster_writes_the_frames_of_jobs_1(two_nodes: tuple[str, dict[str, str]], jobs1: Path,
                                                        source_photo: Path, moving_clip: Path,
                                                        tmp_path: Path) -> None:
    address, env = two_nodes
    out = tmp_path / "ray.mp4"
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "swap-video", "-s", str(source_photo), "-i",
                          str(moving_clip), "-o", str(out), "--ray", address, *EXACT],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    assert np.array_equal(frames(out), frames(jobs1))
    assert_same_timing_and_audio(moving_clip, out)
    assert [p.name for p in tmp_path.iterdir()] == ["ray.mp4"]
