"""A wheel built from the repo works on its own: manifest, embedded models and a swap, no checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_a_wheel_install_swaps_without_the_checkout(tmp_path: Path, astronaut_path: Path, group_photo_path: Path) -> None:
    wheels, target, home, work = (tmp_path / d for d in ("wheels", "site", "home", "work"))
    for d in (home, work):
        d.mkdir()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("obs_faceswap-*.whl")
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]
    assert (target / "obs_faceswap" / "_data" / "manifest.toml").is_file()
    assert (target / "obs_faceswap" / "_data" / "embedded" / "face_mesh.onnx").is_file()

    env = {k: v for k, v in os.environ.items() if not k.startswith("OBS_FACESWAP_")}
    env.update(PYTHONPATH=str(target), HOME=str(home), XDG_DATA_HOME=str(home / "data"))
    run = dict(cwd=work, env=env, capture_output=True, text=True, timeout=300)
    where = subprocess.run([sys.executable, "-c", "import obs_faceswap; print(obs_faceswap.__file__)"], **run)
    assert where.stdout.strip().startswith(str(target)), where.stdout  # the wheel's copy, not the checkout's

    listed = subprocess.run([sys.executable, "-m", "obs_faceswap", "models", "list"], **run)
    assert listed.returncode == 0, listed.stderr
    assert "inswapper_128" in listed.stdout
    assert str(home / "data" / "obs-faceswap" / "models") in listed.stdout  # downloads go to the user's folder

    out = work / "swapped.png"
    swap = subprocess.run([sys.executable, "-m", "obs_faceswap", "swap-image", "--source", str(astronaut_path),
                           "--target", str(group_photo_path), "--output", str(out)], **run)
    assert swap.returncode == 0, swap.stderr
    a, b = cv2.imread(str(group_photo_path)), cv2.imread(str(out))
    assert b is not None and b.shape == a.shape
    assert int((np.abs(a.astype(int) - b).max(axis=2) > 12).sum()) > 500
