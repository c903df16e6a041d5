"""``obs-faceswap bench voice`` reports what its docstring promises (no timing is asserted here)."""

from __future__ import annotations

import json

import pytest

from obs_faceswap.cli import main


def test_bench_voice_reports_wall_and_cpu_rtf_p99_and_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "voice", "--json", "--seconds", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("rtf", "rtf_cpu", "block_p50_ms", "block_p99_ms", "block_max_ms", "baseline_rtf"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["block_p50_ms"] <= result["block_p99_ms"] <= result["block_max_ms"]
    assert result["baseline"].startswith("whole-file") and result["latency_ms"] == 65.0
    over, total = result["blocks_over_budget"].split(" of ")
    assert 0 <= int(over) <= int(total) == 50  # 1 s of 20 ms blocks
