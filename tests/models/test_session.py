"""The one ONNX Runtime session factory: providers, options, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from obs_faceswap.errors import ModelError, ModelSignatureError
from obs_faceswap.models.session import TensorSpec, create_session, provider_options, resolve_providers


def _double_model(path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])], "double",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_unavailable_gpu_provider_falls_back_to_cpu_and_says_so(tmp_path: Path) -> None:
    # this machine's onnxruntime is the CPU build: asking for CUDA must still run, on the CPU,
    # and report the provider actually in use (what the status line shows the streamer)
    assert resolve_providers("cuda")[-1] == "CPUExecutionProvider"
    sess = create_session(_double_model(tmp_path / "m.onnx"), "cuda")
    assert sess.providers == ["CPUExecutionProvider"]
    out = sess.run({"x": np.arange(4, dtype=np.float32)[None]})[0]
    assert out.tolist() == [[0.0, 2.0, 4.0, 6.0]]


def test_tensorrt_caches_engines_and_cuda_uses_heuristic_search(tmp_path: Path) -> None:
    opts = provider_options(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                            cache_dir=tmp_path / "trt")
    assert opts[0]["trt_engine_cache_enable"] == "True"
    assert opts[0]["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert opts[1] == {"cudnn_conv_algo_search": "HEURISTIC"}
    assert opts[2] == {}


def test_missing_corrupt_and_wrong_signature_models_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_session(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="corrupt"):
        create_session(bad)
    with pytest.raises(ModelSignatureError, match=r"expected input target float32\[1,3,128,128\]"):
        create_session(_double_model(tmp_path / "m.onnx"), "cpu", family="inswapper",
                       expect_inputs=[TensorSpec("target", "float32", (1, 3, 128, 128))])


def _chain_model(path: Path, nodes: int) -> Path:
    """A valid model that takes ORT a while to build (a long chain of Add nodes)."""
    import onnx
    from onnx import TensorProto, helper

    graph_nodes, prev = [], "x"
    for i in range(nodes):
        graph_nodes.append(helper.make_node("Add", [prev, "one"], [f"t{i}"]))
        prev = f"t{i}"
    graph_nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(graph_nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_slow_build_does_not_hold_up_other_models(tmp_path: Path) -> None:
    """One channel loading a big model must not delay another channel's (cached or small) model."""
    import threading
    import time

    from obs_faceswap.models import session
    from obs_faceswap.models.session import create_session
    from tests.ipc.util import wait_for

    small = _chain_model(tmp_path / "small.onnx", 2)
    slow = _chain_model(tmp_path / "slow.onnx", 12000)
    kept = create_session(small, "cpu")  # cached: held by this test
    done: dict[str, float] = {}
    started = threading.Event()

    def build_slow() -> None:
        started.set()
        sessions = [create_session(slow, "cpu")]
        done["slow"] = time.perf_counter()
        sessions.clear()

    t = threading.Thread(target=build_slow)
    t.start()
    started.wait()
    # the slow build is under way (its per-model build lock is taken), however fast this machine is
    assert wait_for(lambda: any(str(k[0]).endswith("slow.onnx") for k in list(session._BUILDING)), 30, step=0.001)
    again = create_session(small, "cpu")
    done["small"] = time.perf_counter()
    t.join(60)
    assert again is kept
    assert done["small"] < done["slow"], "a cached model waited for another model's build"
