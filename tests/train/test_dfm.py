"""DF / LIAE training and the DeepFaceLive .dfm export."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from obs_faceswap.cli import main  # noqa: E402
from obs_faceswap.errors import FaceSwapError  # noqa: E402
from obs_faceswap.train import augment  # noqa: E402
from obs_faceswap.train.common import StopRule  # noqa: E402
from obs_faceswap.train.dfm import DFM_INPUT, DFM_OUTPUTS, DfmTrainer, model_from_checkpoint  # noqa: E402
from obs_faceswap.train.dfm_model import DfmShape  # noqa: E402
from obs_faceswap.train.extract import read_faceset  # noqa: E402
from obs_faceswap.train.loop import read_run_config, run_training  # noqa: E402

torch.set_num_threads(1)


def _tiny(arch: str) -> DfmShape:
    return DfmShape(arch=arch, resolution=128, ae_dims=16, e_dims=4, d_dims=4, d_mask_dims=2)


def _sets(faceset: Path) -> tuple[list, list]:  # type: ignore[type-arg]
    faces = read_faceset(faceset)
    src = [f for f in faces if "astronaut" in f.meta["source"]]  # the astronaut (and her mirror image)
    dst = [f for f in faces if "group" in f.meta["source"]]
    assert len(src) == 2 and len(dst) == 6
    return src, dst


@pytest.mark.parametrize("arch", ["df", "liae"])
def test_loss_goes_down_and_resume_continues_the_same_curve(faceset: Path, tmp_path: Path, arch: str) -> None:
    src, dst = _sets(faceset)

    def trainer(seed: int = 0) -> DfmTrainer:
        return DfmTrainer(src, dst, _tiny(arch), batch=2, lr=2e-3, seed=seed)

    straight = run_training(trainer(), tmp_path / "a", StopRule(max_steps=10), preview_every=0, progress=False)
    losses = [r["loss"] for r in straight.losses]
    assert np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])
    run_training(trainer(), tmp_path / "b", StopRule(max_steps=6), preview_every=0, progress=False)
    resumed = run_training(trainer(seed=7), tmp_path / "b", StopRule(max_steps=10), preview_every=0, progress=False)
    assert resumed.resumed_from == 6
    np.testing.assert_allclose([r["loss"] for r in resumed.losses], losses, rtol=1e-5)
    grid = cv2.imread(str(tmp_path / "b" / "preview.png"))
    assert grid is not None and grid.shape[1] > 6 * 128  # src, src>src, dst, dst>dst, swap, mask


def test_augmentation_warps_the_input_only_and_masks_follow_the_face(faceset: Path) -> None:
    src, dst = _sets(faceset)
    tr = DfmTrainer(src, dst, _tiny("df"), batch=2)
    b = tr.make_batch(3)
    assert b["warped_src"].shape == (2, 3, 128, 128) and b["src_mask"].shape == (2, 1, 128, 128)
    assert np.abs(b["warped_src"] - b["src"]).mean() > 0.01  # warped input, unwarped target
    np.testing.assert_array_equal(tr.make_batch(3)["src"], b["src"])  # a batch depends on (seed, step) only
    m = b["dst_mask"][0, 0]
    assert 0.15 < m.mean() < 0.7 and m[64, 64] > 0.9 and m[2, 2] < 0.05  # the face, not the corners
    rng = np.random.default_rng(0)
    img = cv2.imread(str(src[0].image))
    warped = augment.random_warp(rng, img)
    assert warped.shape == img.shape and 1 < np.abs(warped.astype(int) - img).mean() < 40


@pytest.mark.parametrize("arch", ["df", "liae"])
def test_dfm_export_has_deepfacelives_signature_and_matches_torch(faceset: Path, tmp_path: Path, arch: str) -> None:
    import onnxruntime as ort

    src, dst = _sets(faceset)
    run_training(DfmTrainer(src, dst, _tiny(arch), batch=2), tmp_path / "run", StopRule(max_steps=1),
                 preview_every=0, progress=False)
    out = tmp_path / "person.dfm"
    assert main(["train", "export", str(tmp_path / "run"), "-o", str(out)]) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == DFM_INPUT and inp.type == "tensor(float)" and inp.shape[1:] == [128, 128, 3]
    outs = sess.get_outputs()
    assert [o.name for o in outs] == list(DFM_OUTPUTS)
    assert [o.shape[1:] for o in outs] == [[128, 128, 1], [128, 128, 3], [128, 128, 1]]
    assert all(o.type == "tensor(float)" for o in outs)
    faces = np.stack([cv2.imread(str(f.image)) for f in dst[:2]]).astype(np.float32) / 255.0  # NHWC BGR [0,1]
    got = sess.run(None, {DFM_INPUT: faces})
    _, blob = read_run_config(tmp_path / "run")
    with torch.no_grad():
        ref = model_from_checkpoint(blob).swap(torch.from_numpy(faces).permute(0, 3, 1, 2))
    for g, r in zip(got, ref, strict=True):
        assert np.abs(g - r.permute(0, 2, 3, 1).numpy()).max() < 1e-4
        assert 0.0 <= g.min() and g.max() <= 1.0


def test_bad_settings_are_clear(faceset: Path, tmp_path: Path) -> None:
    with pytest.raises(FaceSwapError, match="multiple of 16"):
        DfmShape(resolution=200)
    src, dst = _sets(faceset)
    run_training(DfmTrainer(src, dst, _tiny("df"), batch=1), tmp_path / "run", StopRule(max_steps=1),
                 preview_every=0, progress=False)
    with pytest.raises(FaceSwapError, match="other model settings"):
        run_training(DfmTrainer(src, dst, _tiny("liae"), batch=1), tmp_path / "run", StopRule(max_steps=2),
                     preview_every=0, progress=False)


def test_ctrl_c_finishes_the_step_and_saves_the_checkpoint(faceset: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    src, dst = _sets(faceset)
    sets = {}
    for name, recs in (("src", src), ("dst", dst)):  # the two halves as face-set folders
        d = tmp_path / name
        d.mkdir()
        for r in recs:
            for f in (r.image, r.image.with_suffix(".json")):
                (d / f.name).write_bytes(f.read_bytes())
        sets[name] = d
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "obs_faceswap", "train", "dfm", "--src", str(sets["src"]), "--dst", str(sets["dst"]),
           "--run", str(run), "--ae-dims", "16", "--e-dims", "4", "--d-dims", "4", "--d-mask-dims", "2",
           "--batch", "1", "--max-steps", "100000", "--preview-every", "1", "--workers", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not (run / "preview.png").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command to continue" in out
    _, blob = read_run_config(run)
    rows = (run / "losses.csv").read_text().strip().splitlines()[1:]
    assert blob["step"] >= 1 and len(rows) == blob["step"]  # every finished step is in the checkpoint
