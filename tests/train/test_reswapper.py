"""ReSwapper distillation: it learns, resumes on the same curve, its identity loss teaches the
generator, and its export is a drop-in inswapper-signature swapper."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from obs_faceswap.cli import main  # noqa: E402
from obs_faceswap.errors import ModelError  # noqa: E402
from obs_faceswap.train.common import StopRule  # noqa: E402
from obs_faceswap.train.extract import read_faceset  # noqa: E402
from obs_faceswap.train.loop import read_run_config, run_training  # noqa: E402
from obs_faceswap.train.onnx_torch import OnnxModule  # noqa: E402
from obs_faceswap.train.reswapper import ReswapperTrainer, identity_loss  # noqa: E402

torch.set_num_threads(1)
TINY = {"width": 4, "blocks": 1, "batch": 2, "lr": 3e-3}


def _trainer(faceset: Path, models: dict[str, Path], **kw: object) -> ReswapperTrainer:
    return ReswapperTrainer(read_faceset(faceset), models["teacher"], models["arcface"], **{**TINY, **kw})  # type: ignore[arg-type]


def _csv(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def test_loss_goes_down_and_resume_continues_the_same_curve(faceset: Path, standin_models: dict[str, Path],
                                                             tmp_path: Path) -> None:
    straight = run_training(_trainer(faceset, standin_models), tmp_path / "a", StopRule(max_steps=12),
                            preview_every=0, progress=False)
    losses = [r["loss"] for r in straight.losses]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])
    # 7 steps, then a new trainer (built with another seed, as a new process could be) resumes to 12
    first = run_training(_trainer(faceset, standin_models), tmp_path / "c", StopRule(max_steps=7),
                         preview_every=0, progress=False)
    resumed = run_training(_trainer(faceset, standin_models, seed=9), tmp_path / "c", StopRule(max_steps=12),
                           preview_every=0, progress=False)
    assert first.step == 7 and resumed.resumed_from == 7 and resumed.step == 12
    rows = _csv(tmp_path / "c" / "losses.csv")
    assert [r["step"] for r in rows] == list(range(1, 13))
    np.testing.assert_allclose([r["loss"] for r in rows], losses, rtol=1e-5)
    assert (tmp_path / "c" / "losses.png").is_file()
    grid = cv2.imread(str(tmp_path / "c" / "preview.png"))
    assert grid is not None and grid.shape[1] > 4 * 128  # source | target | teacher | student


def test_identity_loss_reaches_the_generator(faceset: Path, standin_models: dict[str, Path]) -> None:
    tr = _trainer(faceset, standin_models)
    batch = {k: torch.as_tensor(v) for k, v in tr.make_batch(0).items()}
    out = tr.generator(batch["target"], batch["latent"])
    loss = identity_loss(tr.arcface, out, batch["embedding"])
    assert 0.0 < loss.item() < 2.0
    loss.backward()
    grads = [p.grad for p in tr.generator.parameters()]
    assert all(g is not None for g in grads)
    first, last = tr.generator.down[0].weight.grad, tr.generator.up[-2].weight.grad
    assert float(first.abs().sum()) > 0 and float(last.abs().sum()) > 0  # flows through the whole generator
    assert not any(p.requires_grad for p in tr.arcface.parameters()) and len(list(tr.arcface.buffers())) > 0
    assert all(b.grad is None for b in tr.arcface.buffers())  # ArcFace stays frozen
    # the trainer's step includes it: one step with only the identity term moves the weights
    tr.generator.zero_grad()
    tr.id_weight = 1.0
    _, parts = tr._forward(batch)
    parts["identity"].backward()
    assert float(tr.generator.blocks[0].conv1.adain.style.weight.grad.abs().sum()) > 0
    # (an identity term computed on a detached image, as in the original project, has no grad_fn:
    # the backward() above would raise and no generator weight would get a gradient)
    assert parts["identity"].grad_fn is not None


def test_onnx_converter_matches_onnxruntime_on_an_arcface_style_graph(tmp_path: Path) -> None:
    import warnings

    import onnxruntime as ort

    class Net(torch.nn.Module):  # the operators of insightface's iresnet exports
        def __init__(self) -> None:
            super().__init__()
            self.bn0 = torch.nn.BatchNorm2d(3)
            self.conv = torch.nn.Conv2d(3, 8, 3, 2, 1, bias=False)
            self.bn = torch.nn.BatchNorm2d(8)
            self.prelu = torch.nn.PReLU(8)
            self.conv2 = torch.nn.Conv2d(8, 8, 3, 1, 1)
            self.fc = torch.nn.Linear(8 * 56 * 56, 64)
            self.bn1 = torch.nn.BatchNorm1d(64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.prelu(self.bn(self.conv(self.bn0((x - 0.5) * 2))))
            return self.bn1(self.fc(torch.flatten(y + self.conv2(y), 1)))

    torch.manual_seed(0)
    net = Net()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    path = tmp_path / "arc.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, 112, 112),), str(path), dynamo=False, input_names=["input.1"],
                          output_names=["embedding"], dynamic_axes={"input.1": {0: "N"}}, opset_version=17,
                          do_constant_folding=False)
    x = torch.rand(2, 3, 112, 112)
    ours = OnnxModule(path)(x).numpy()
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input.1": x.numpy()})[0]
    assert np.abs(ours - ref).max() < 1e-4

    import onnx
    from onnx import TensorProto, helper

    bad = tmp_path / "bad.onnx"
    g = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(bad))
    with pytest.raises(ModelError, match="Erf is not supported"):
        OnnxModule(bad)


def test_export_is_a_drop_in_inswapper_file(faceset: Path, standin_models: dict[str, Path], tmp_path: Path,
                                            astronaut_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx
    from onnx import numpy_helper

    from obs_faceswap.models.registry import load_family
    from obs_faceswap.vision.swappers import inswapper

    run = tmp_path / "run"
    assert main(["train", "reswapper", "--faces", str(faceset), "--teacher", str(standin_models["teacher"]),
                 "--embedder", str(standin_models["arcface"]), "--run", str(run), "--width", "4", "--blocks", "1",
                 "--batch", "2", "--max-steps", "2", "--workers", "1", "--quiet"]) == 0
    out = tmp_path / "student.onnx"
    assert main(["train", "export", str(run), "-o", str(out)]) == 0
    model = onnx.load(str(out))
    assert model.graph.initializer[-1].name == "emap"
    emap = numpy_helper.to_array(model.graph.initializer[-1])
    np.testing.assert_array_equal(emap, inswapper.read_emap(standin_models["teacher"]))
    # the product's adapter loads it as is and its output is the torch model's
    session = load_family(str(out), "inswapper", "cpu")
    swapper = inswapper.InSwapper(session)
    assert swapper.size == 128
    _, blob = read_run_config(run)
    from obs_faceswap.train.reswapper import generator_from_checkpoint

    g = generator_from_checkpoint(blob)
    rng = np.random.default_rng(0)
    target = rng.random((1, 3, 128, 128), dtype=np.float32)
    latent = swapper.source_latent(rng.standard_normal(512).astype(np.float32))
    ours = session.run({"target": target, "source": latent})[0]
    with torch.no_grad():
        ref = g(torch.from_numpy(target), torch.from_numpy(latent)).numpy()
    assert np.abs(ours - ref).max() < 1e-4
    # and swap-image runs with it
    dest = tmp_path / "swapped.png"
    assert main(["swap-image", "-s", str(astronaut_path), "-t", str(astronaut_path), "-o", str(dest),
                 "--swapper-model", str(out), "--embedder", str(standin_models["arcface"]),
                 "--detector", "embedded", "-q"]) == 0
    before, after = cv2.imread(str(astronaut_path)), cv2.imread(str(dest))
    assert after.shape == before.shape and (after != before).any(-1)[100:160, 190:260].mean() > 0.5
