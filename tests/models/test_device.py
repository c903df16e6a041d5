"""The GPU path on the CPU provider: IO binding, batched swaps, fp16 variants, provider options.

The code is the same under CUDA/TensorRT (device buffers instead of host ones); tools/gpu_check.sh
runs the GPU side of it where a GPU is lent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from obs_faceswap.bench.photos import astronaut_frame
from obs_faceswap.models.device import BoundSession, device_options, gpu_memory, session_device
from obs_faceswap.models.session import create_session
from obs_faceswap.models.standins.batched import build_inswapper_batched
from obs_faceswap.models.standins.face import build_inswapper
from obs_faceswap.vision.swappers.batch import batch_capacity, swap_crops
from obs_faceswap.vision.swappers.inswapper import InSwapper, read_emap
from obs_faceswap.vision.types import Face


def _faces_and_crops(swapper: InSwapper, n: int = 3) -> list[np.ndarray]:
    frame, kps = astronaut_frame(1280, 720, 600)
    crops = []
    for i in range(n):  # the same photo, three different alignments: three different crops
        shifted = kps * (1.0 - 0.08 * i) + np.float32(i * 7)
        face = Face(bbox=np.array([0, 0, 1, 1], np.float32), score=1.0, kps=shifted.astype(np.float32))
        crops.append(swapper.align(frame, face)[0])
    return crops


def _latents(swapper: InSwapper, n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([swapper.source_latent(rng.standard_normal(512).astype(np.float32)) for _ in range(n)])


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> InSwapper:
    path = build_inswapper_batched(tmp_path_factory.mktemp("m") / "reswapper_dyn.onnx")
    return InSwapper(create_session(path, "cpu", threads=1))


def test_faces_batched_through_the_swapper_match_one_by_one(batched: InSwapper) -> None:
    crops = _faces_and_crops(batched)
    latents = _latents(batched, 3)
    assert batch_capacity(batched) == 0  # dynamic batch axis: all faces in one run
    together = swap_crops(batched, crops, latents)
    alone = [batched.swap_crop(c, latents[i:i + 1]) for i, c in enumerate(crops)]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == b.shape == (128, 128, 3) and a.dtype == np.uint8
        assert int(np.abs(a.astype(int) - b).max()) <= 1
    # each face got its own source: the three results differ from each other
    assert np.abs(together[0].astype(int) - together[1]).mean() > 2
    # one source for every face broadcasts
    same = swap_crops(batched, crops, latents[0])
    assert int(np.abs(same[0].astype(int) - alone[0]).max()) <= 1


def test_batch_one_model_runs_face_by_face(tmp_path: Path) -> None:
    fixed = InSwapper(create_session(build_inswapper(tmp_path / "inswapper_128.onnx"), "cpu", threads=1))
    assert batch_capacity(fixed) == 1
    crops = _faces_and_crops(fixed, 2)
    latents = _latents(fixed, 2)
    out = swap_crops(fixed, crops, latents)
    assert [np.array_equal(o, fixed.swap_crop(c, latents[i:i + 1])) for i, (o, c) in enumerate(zip(out, crops,
                                                                                                 strict=True))] == [True, True]
    with pytest.raises(ValueError, match="2 crops but 3 source latents"):
        swap_crops(fixed, crops, _latents(fixed, 3))


def test_io_binding_gives_the_plain_runs_outputs_and_reuses_its_buffers(batched: InSwapper) -> None:
    bound = BoundSession(batched.session, cuda_graph=True)
    assert bound.device == session_device(batched.session) == "cpu" and not bound.cuda_graph  # CUDA only
    rng = np.random.default_rng(0)
    for batch in (1, 3, 3, 2):  # same shape twice: updated in place; new shape: rebound
        feeds = {"target": rng.random((batch, 3, 128, 128), dtype=np.float32),
                 "source": rng.standard_normal((batch, 512)).astype(np.float32)}
        want = batched.session.run(feeds)[0]
        got = bound.run(feeds)[0]
        assert got.shape == (batch, 3, 128, 128)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    # the batched swap through IO binding equals the plain batched swap
    crops, latents = _faces_and_crops(batched), _latents(batched, 3)
    plain = swap_crops(batched, crops, latents)
    for a, b in zip(swap_crops(batched, crops, latents, runner=bound), plain, strict=True):
        assert np.array_equal(a, b)
    assert bound.runs == 5


def test_an_output_left_on_the_device_feeds_the_next_model(batched: InSwapper) -> None:
    # swapper -> swapper again, the intermediate never copied to numpy by the caller
    first, second = BoundSession(batched.session), BoundSession(batched.session)
    rng = np.random.default_rng(1)
    feeds = {"target": rng.random((2, 3, 128, 128), dtype=np.float32),
             "source": rng.standard_normal((2, 512)).astype(np.float32)}
    on_device = first.run_device(feeds)[0]
    assert isinstance(on_device, ort.OrtValue) and on_device.device_name().lower() == "cpu"
    chained = second.run({"target": on_device, "source": feeds["source"]})[0]
    host = batched.session.run({"target": batched.session.run(feeds)[0], "source": feeds["source"]})[0]
    np.testing.assert_allclose(chained, host, rtol=0, atol=1e-6)


def test_fp16_variant_keeps_float32_io_and_the_emap(tmp_path: Path, batched: InSwapper) -> None:
    pytest.importorskip("onnxconverter_common")
    from obs_faceswap.models.fp16 import convert_file, main

    half_path = convert_file(batched.session.path, tmp_path / "half.onnx")
    model = onnx.load(str(half_path))
    inits = model.graph.initializer
    assert inits[-1].name == "emap" and inits[-1].data_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in inits[:-1])
    assert read_emap(half_path).shape == (512, 512)
    half = InSwapper(create_session(half_path, "cpu", threads=1))  # same signature checks pass
    crops, latents = _faces_and_crops(half), _latents(half, 3)
    for a, b in zip(swap_crops(half, crops, latents), swap_crops(batched, crops, latents), strict=True):
        assert float(np.abs(a.astype(int) - b).mean()) < 1.0  # fp16 rounding, not a different face
    # the command line: a default name beside the file, and a clear error for a non-model
    assert main([str(batched.session.path)]) == 0
    assert batched.session.path.with_name("reswapper_dyn.fp16.onnx").is_file()
    bad = tmp_path / "photo.onnx"
    bad.write_bytes(b"\xff\xd8 not a model")
    assert main([str(bad)]) == 1


def test_gpu_options_tensorrt_profile_cuda_graph_and_no_gpu_here(batched: InSwapper) -> None:
    opts = device_options(cuda_graph=True, batch_inputs={"target": (3, 128, 128), "source": (512,)}, max_batch=4)
    trt = opts["TensorrtExecutionProvider"]
    assert trt["trt_profile_min_shapes"] == "target:1x3x128x128,source:1x512"
    assert trt["trt_profile_max_shapes"] == "target:4x3x128x128,source:4x512"
    assert trt["trt_timing_cache_enable"] == "True" and trt["trt_fp16_enable"] == "True"
    assert opts["CUDAExecutionProvider"] == {"enable_cuda_graph": "1"}
    # the options go through the one session factory; on this CPU build they fall back to the CPU
    sess = create_session(batched.session.path, "cuda", threads=1, options=opts)
    assert sess.providers == ["CPUExecutionProvider"]
    assert gpu_memory() is None  # no NVIDIA GPU on this machine: nothing reported, nothing raised


def test_session_cache_keeps_sessions_with_other_provider_options_apart(batched: InSwapper) -> None:
    path = batched.session.path
    graph = device_options(cuda_graph=True)
    a = create_session(path, "cpu", threads=1, options=graph)
    assert create_session(path, "cpu", threads=1, options=device_options(cuda_graph=True)) is a  # same options: cached
    assert create_session(path, "cpu", threads=1) is not a  # a CUDA-graph session is never handed to others
