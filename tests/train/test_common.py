"""Shared training helpers: SSIM against scikit-image, checkpoints that resume the same curve,
preview grids and loss plots a user can read."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from obs_faceswap.errors import FaceSwapError  # noqa: E402
from obs_faceswap.train import common  # noqa: E402

torch.set_num_threads(1)


def test_ssim_matches_scikit_image_on_a_real_face(astronaut_bgr: np.ndarray) -> None:
    from skimage.metrics import structural_similarity

    a = cv2.resize(astronaut_bgr[40:280, 140:380], (96, 96)).astype(np.float32) / 255.0
    b = np.clip(a + np.random.default_rng(0).normal(0, 0.08, a.shape), 0, 1).astype(np.float32)
    ref = structural_similarity(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1)[None] for x in (a, b))
    ours = float(common.ssim(ta, tb))
    # scikit-image pads 'valid' by cropping (window-1)/2 px; we filter 'valid': same pixels
    assert ours == pytest.approx(ref, abs=2e-3)
    assert float(common.ssim(ta, ta)) == pytest.approx(1.0, abs=1e-5)
    assert float(common.dssim(ta, ta)) == pytest.approx(0.0, abs=1e-5)
    assert 0.0 < float(common.dssim(ta, tb)) < 0.5


def test_dssim_gradient_pulls_an_image_towards_the_target() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    opt = torch.optim.Adam([x], lr=0.05)
    first = None
    for _ in range(30):
        loss = common.dssim(x, target)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(common.dssim(x, target)) < first * 0.5


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 1))


def _steps(net: torch.nn.Module, opt: torch.optim.Optimizer, n: int) -> list[float]:
    losses = []
    for _ in range(n):
        x = torch.rand(2, 3, 16, 16)  # drawn from the global torch RNG: resume must restore it
        noise = float(np.random.rand())  # and NumPy's
        loss = ((net(x) - x * noise) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def test_resume_continues_the_same_curve(tmp_path: Path) -> None:
    common.seed_everything(3)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    straight = _steps(net, opt, 8)

    common.seed_everything(3)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = _steps(net, opt, 4)
    ck = common.save_checkpoint(tmp_path / "run" / "checkpoint.pt", step=4, modules={"net": net},
                                optimizers={"opt": opt}, config={"width": 4})
    common.seed_everything(99)  # a fresh process would start elsewhere
    net2 = _net()
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-2)
    blob = common.load_checkpoint(ck)
    assert blob["config"] == {"width": 4}
    assert common.restore_checkpoint(blob, modules={"net": net2}, optimizers={"opt": opt2}) == 4
    assert first + _steps(net2, opt2, 4) == pytest.approx(straight, rel=1e-6)
    assert [p.name for p in ck.parent.iterdir()] == ["checkpoint.pt"]  # no part files left


def test_bad_checkpoints_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(FaceSwapError, match="no checkpoint"):
        common.load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(FaceSwapError, match="cannot read the checkpoint"):
        common.load_checkpoint(bad)
    ck = common.save_checkpoint(tmp_path / "c.pt", step=1, modules={"net": _net()})
    other = torch.nn.Conv2d(3, 8, 5)
    with pytest.raises(FaceSwapError, match="does not fit"):
        common.restore_checkpoint(common.load_checkpoint(ck), modules={"net": other})
    with pytest.raises(FaceSwapError, match="no 'gen' model"):
        common.restore_checkpoint(common.load_checkpoint(ck), modules={"gen": other})


def test_stop_rule_needs_a_limit_and_counts_total_steps() -> None:
    with pytest.raises(FaceSwapError, match="stopping point"):
        common.StopRule()
    rule = common.StopRule(max_steps=10)
    assert not rule.done(9) and rule.done(10)
    assert common.StopRule(minutes=1e-9).done(0)


def test_preview_grid_places_each_image_in_its_cell(astronaut_bgr: np.ndarray, tmp_path: Path) -> None:
    face = cv2.resize(astronaut_bgr, (64, 64))
    mask = torch.zeros(1, 32, 32)
    mask[:, 8:24, 8:24] = 1.0
    tensor = common.from_images(face[None])[0]
    grid = common.preview_grid([[face, tensor, mask], [face, face, face]], labels=["src", "pred", "mask"])
    assert grid.shape == (22 + 2 * 66 + 2, 3 * 66 + 2, 3)
    assert np.abs(grid[24:88, 2:66].astype(int) - face).mean() < 1  # cell (0,0) is the image as is
    assert np.abs(grid[24:88, 68:132].astype(int) - face).mean() < 1  # tensor round trip
    m = grid[24:88, 134:198]
    assert m[32, 32].min() == 255 and m[2, 2].max() == 0  # mask upscaled to the cell, grey as BGR
    assert grid[:22].max() > 200  # labels drawn
    out = common.write_preview(tmp_path / "p" / "step_000001.png", [[face, mask]])
    assert cv2.imread(str(out)).shape == (68, 134, 3)


def test_loss_log_resume_drops_rows_after_the_checkpoint_and_plots(tmp_path: Path) -> None:
    log = common.LossLog(tmp_path / "losses.csv", ["loss", "dssim"])
    for s in range(1, 11):
        log.add(s, loss=1.0 / s, dssim=0.5 / s)
    log.write()
    again = common.LossLog(tmp_path / "losses.csv", ["loss", "dssim"], resume_step=6)
    assert [r["step"] for r in again.rows] == [1, 2, 3, 4, 5, 6]
    assert again.rows[5]["loss"] == pytest.approx(1 / 6, rel=1e-5)
    with pytest.raises(ValueError, match="unknown loss fields"):
        again.add(7, l1=0.1)
    png = log.plot(tmp_path / "losses.png")
    img = cv2.imread(str(png))
    assert img.shape == (360, 640, 3)
    # the 'loss' curve (first colour) falls: its pixels on the left sit higher than on the right
    blue = np.all(np.abs(img.astype(int) - common._COLOURS[0]) < 40, axis=2)
    ys, xs = np.nonzero(blue[:, 64:520])
    assert len(xs) > 100
    assert ys[xs < xs.mean()].mean() < ys[xs > xs.mean()].mean()
    assert common.plot_losses([], ["loss"]).shape == (360, 640, 3)


def test_pick_device() -> None:
    assert common.pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert common.pick_device("auto").type == "cpu"
        with pytest.raises(FaceSwapError, match="no CUDA"):
            common.pick_device("cuda")
    with pytest.raises(FaceSwapError, match="unknown device"):
        common.pick_device("tpu")
