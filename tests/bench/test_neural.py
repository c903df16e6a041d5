"""bench neural: the per-frame path it times, on small stand-ins (the exact models take seconds a face here)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from obs_faceswap.bench.neural import SIZES, _detector, _Models, group_frame
from obs_faceswap.models.standins import quality
from obs_faceswap.models.standins.batched import build_inswapper_batched
from obs_faceswap.models.standins.face import build_arcface, build_scrfd


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("standins")
    return {"swap": build_inswapper_batched(d / "swap.onnx"), "embed": build_arcface(d / "arcface.onnx"),
            "enhance": quality.gfpgan(d / "gfpgan.onnx"), "parse": quality.bisenet(d / "bisenet.onnx"),
            "detect": build_scrfd(d / "det.onnx")}  # finds nothing: the faces come from the placed stand-in


def test_three_faces_swapped_batched_and_bound_match_one_by_one_and_plain(paths: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    bound = _Models(paths, "cpu", io_binding=True, cuda_graph=False)
    plain = _Models(paths, "cpu", io_binding=False, cuda_graph=False)
    frame, placed = group_frame(*SIZES["720p"], 3)
    latent = bound.swapper.source_latent(np.random.default_rng(0).standard_normal(512).astype(np.float32))
    laps: dict[str, float] = {}
    out = bound.frame(frame, _detector(bound, tmp_path, "720p", 3, "cpu"), latent, laps)
    assert laps["faces"] == 3 and set(laps) >= {"detect", "align", "swap", "enhance", "parse", "paste"}
    ref = plain.frame(frame, _detector(plain, tmp_path, "720p", 3, "cpu"), latent, batch=False)
    assert int(np.abs(out.astype(int) - ref).max()) <= 1  # batching + IO binding change nothing visible
    changed = np.abs(out.astype(int) - frame).max(axis=2) > 8
    for box, _kps in placed:  # every face was swapped, inside its own box
        x0, y0, x1, y1 = box.astype(int)
        assert changed[y0:y1, x0:x1].mean() > 0.2
    assert not changed[:, :40].any()  # the grey border far from the faces is untouched
    assert bound.providers()["swap"] == "CPUExecutionProvider"


def test_bench_neural_without_torch_and_models_says_how_to_get_them(tmp_path: Path) -> None:
    block = textwrap.dedent("""
        import sys
        class _Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None
        sys.meta_path.insert(0, _Absent())
        from obs_faceswap.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    env = {**os.environ, "OBS_FACESWAP_EXACT_MODELS": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", block, "bench", "neural", "--json"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 2
    assert "needs torch (the 'train' extra)" in res.stderr and sys.executable in res.stderr
    assert "Traceback" not in res.stderr


def test_measure_reports_every_stage_frame_provider_and_the_baseline(paths: dict[str, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # the exact models take minutes to build and seconds a face: the same measurement on the stand-ins
    from obs_faceswap.bench import exact_models, neural

    by_name = {"det_10g": "detect", "inswapper_128": "swap", "w600k_r50": "embed", "gfpgan_1.4": "enhance",
               "bisenet_r34": "parse"}
    monkeypatch.setattr(exact_models, "ensure", lambda names, **kw: {n: paths[by_name[n]] for n in names})
    monkeypatch.setattr(exact_models, "read_info", lambda *a: {n: {"params": 1, "macs": 2} for n in by_name})
    res = neural.measure("cuda", repeat=2, frame_repeat=1)  # no GPU here: it must say where it really ran
    assert res["architecture"] == "exact" and res["swap_ms"] > 0 and res["frame_ms"] > 0
    for size in ("720p", "1080p"):
        for n in (1, 3):
            assert res[f"frame_{size}_{n}face_ms"] > 0
            assert set(res[f"frame_{size}_{n}face_stages_ms"]) >= {"detect", "swap", "enhance", "parse", "paste"}
    assert set(res["providers"].values()) == {"CPUExecutionProvider"}
    assert "CUDA is not available" in res["provider_note"]
    assert res["swap3_sequential_plain_ms"] > 0 and res["swap3_batch_speedup"] > 0
    cpu = neural.measure("cpu", sizes=["720p"])  # CPU default: heavy stages from the frames' laps
    assert cpu["stages_from"].startswith("swap/enhance/parse: laps") and cpu["swap_ms"] == \
        cpu["frame_720p_1face_stages_ms"]["swap"]
