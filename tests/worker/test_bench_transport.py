"""`obs-faceswap bench transport` runs end to end (numbers are the bench's business, not the test's)."""

from __future__ import annotations

import json
import subprocess

from tests.ipc.util import PYTHON


def test_bench_transport_prints_one_json_object() -> None:
    out = subprocess.run([PYTHON, "-m", "obs_faceswap.cli", "bench", "transport", "--json", "--frames", "20",
                          "--frame", "320x240"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["frame"] == "320x240" and result["copies"] == 2
    for key in ("roundtrip_p50_ms", "roundtrip_p99_ms", "memcpy_ms", "ratio", "obs_side_p50_ms", "restart_ms"):
        assert result[key] > 0
    assert result["roundtrip_p99_ms"] >= result["roundtrip_p50_ms"]
