"""``bench lipsync --json`` runs on the default install and reports ours beside its baselines."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_lipsync_json() -> None:
    res = subprocess.run([sys.executable, "-m", "obs_faceswap", "bench", "lipsync", "--json", "--repeat", "3"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("embedded_photo_ms_p50", "embedded_video_ms_p50", "baseline_classical_swap_ms_p50",
                "mel_ms_per_s_ours", "standin_pre_ms_p50", "standin_model_ms_p50", "standin_post_ms_p50"):
        assert isinstance(out[key], float) and out[key] > 0, key
    assert out["frame"] == "1280x720" and out["baseline_mel_ms_per_s_librosa"] > 0
