"""CUDA and TensorRT providers: run where onnxruntime-gpu sees an NVIDIA GPU (tools/gpu_check.sh), skipped elsewhere.

CI has no GPU, so these skip there; the CPU side of the same code is tests/models/test_device.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from obs_faceswap.models.device import BoundSession, device_options, gpu_memory, preload_gpu_libraries
from obs_faceswap.models.session import create_session
from obs_faceswap.models.standins.batched import build_inswapper_batched

BATCH_INPUTS = {"target": (3, 128, 128), "source": (512,)}


def _cuda_works(tmp: Path) -> bool:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    try:
        return create_session(build_inswapper_batched(tmp / "probe.onnx"), "cuda").providers[0] == "CUDAExecutionProvider"
    except Exception:
        return False


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gpu")
    preload_gpu_libraries()  # CUDA/cuDNN from the nvidia-* wheels (onnxruntime-gpu[cuda,cudnn])
    if not _cuda_works(d):
        pytest.skip("needs onnxruntime-gpu and an NVIDIA GPU (tools/gpu_check.sh runs these)")
    return build_inswapper_batched(d / "swap.onnx")


def _feeds(seed: int, batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"target": rng.random((batch, 3, 128, 128), dtype=np.float32),
            "source": rng.standard_normal((batch, 512)).astype(np.float32)}


pytestmark = pytest.mark.gpu


def test_cuda_runs_on_the_gpu_and_matches_the_cpu(model: Path) -> None:
    gpu, cpu = create_session(model, "cuda"), create_session(model, "cpu")
    assert gpu.providers[0] == "CUDAExecutionProvider"
    f = _feeds(0)
    np.testing.assert_allclose(gpu.run(f)[0], cpu.run(f)[0], atol=2e-3)


def test_io_binding_keeps_outputs_on_the_gpu_and_chains_them(model: Path) -> None:
    sess, cpu = create_session(model, "cuda"), create_session(model, "cpu")
    first, second = BoundSession(sess), BoundSession(sess)
    assert first.device == "cuda"
    f = _feeds(1)
    out = first.run_device(f)[0]
    assert out.device_name().lower() == "cuda"
    chained = second.run({"target": out, "source": f["source"]})[0]
    want = cpu.run({"target": cpu.run(f)[0], "source": f["source"]})[0]
    np.testing.assert_allclose(chained, want, atol=2e-3)


def test_cuda_graph_replays_with_the_new_inputs(model: Path) -> None:
    sess = create_session(model, "cuda", options=device_options(cuda_graph=True))
    cpu = create_session(model, "cpu")
    bound = BoundSession(sess, cuda_graph=True)
    assert bound.cuda_graph
    # one graph per face count, each replayed on its own fixed buffers with the new inputs
    for seed, batch in ((2, 3), (3, 3), (4, 1), (5, 3), (6, 1)):
        f = _feeds(seed, batch)
        np.testing.assert_allclose(bound.run(f)[0], cpu.run(f)[0], atol=2e-3)


def test_fp16_variant_on_cuda_is_close_to_fp32(model: Path, tmp_path: Path) -> None:
    from obs_faceswap.models.fp16 import convert_file

    half = create_session(convert_file(model, tmp_path / "half.onnx"), "cuda")
    full = create_session(model, "cuda")
    f = _feeds(5)
    assert float(np.abs(half.run(f)[0] - full.run(f)[0]).mean()) < 2e-3


def test_tensorrt_builds_one_engine_for_batches_and_caches_it(model: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu without TensorRT here")
    monkeypatch.setenv("OBS_FACESWAP_TRT_CACHE", str(tmp_path / "trt"))
    opts = device_options(batch_inputs=BATCH_INPUTS, max_batch=4)
    sess = create_session(model, "tensorrt", options=opts)
    if sess.providers[0] != "TensorrtExecutionProvider":
        pytest.skip(f"TensorRT libraries not loadable here (ran on {sess.providers[0]})")
    cpu = create_session(model, "cpu")
    for batch in (1, 3):
        f = _feeds(6, batch)
        np.testing.assert_allclose(sess.run(f)[0], cpu.run(f)[0], atol=2e-2)  # fp16 engine
    engines = [p for p in (tmp_path / "trt").rglob("*") if p.is_file()]
    assert engines, "TensorRT wrote no engine cache"
    again = create_session(model, "tensorrt", options=opts)  # loads the cached engine
    f = _feeds(7, 2)
    np.testing.assert_allclose(again.run(f)[0], cpu.run(f)[0], atol=2e-2)


def test_gpu_memory_is_reported(model: Path) -> None:
    mem = gpu_memory()
    if mem is None and not os.environ.get("OBS_FACESWAP_GPU_CHECK"):
        pytest.skip("nvidia-ml-py (the gpu extra) not installed")
    assert mem is not None and 0 < mem["gpu_memory_used_mb"] <= mem["gpu_memory_total_mb"]


def test_the_workers_video_stats_carry_gpu_memory(model: Path) -> None:
    from obs_faceswap.ipc import WorkerClient
    from tests.ipc.util import PYTHON, wait_for

    client = WorkerClient(PYTHON, log=lambda _line: None).start()
    try:
        assert client.wait_ready(30), client.status
        video = client.open_video({}, processor="invert")
        assert wait_for(lambda: "gpu_memory_used_mb" in (video.worker_stats or {}), 10), video.worker_stats
        assert 0 < video.worker_stats["gpu_memory_used_mb"] <= video.worker_stats["gpu_memory_total_mb"]
    finally:
        client.stop()
