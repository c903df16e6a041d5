"""CLI of issue 13's features: a DFM model without source photos, ``models import FILE.dfm``, --source-map."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.cli import main
from obs_faceswap.models.standins.dfm import build_dfm


def test_swap_image_with_a_dfm_model_needs_no_source(astronaut_path: Path, astronaut_bgr: np.ndarray,
                                                     tmp_path: Path) -> None:
    dfm = build_dfm(tmp_path / "celeb.dfm", 224)
    out = tmp_path / "out.png"
    assert main(["swap-image", "-t", str(astronaut_path), "-o", str(out), "--swapper", "dfm", "--dfm-model", str(dfm),
                 "--detector", "embedded", "-q"]) == 0
    changed = (np.abs(cv2.imread(str(out)).astype(int) - astronaut_bgr).max(2) > 30)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 2000 and 120 < xs.mean() < 330 and ys.mean() < 250


def test_no_source_and_nothing_else_is_one_clear_line(astronaut_path: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["swap-image", "-t", str(astronaut_path), "-o", str(tmp_path / "o.png"), "-q"]) == 2
    assert "--source PHOTO (or --source-map, or --swapper dfm)" in capsys.readouterr().err
    assert main(["swap-image", "-t", str(astronaut_path), "-o", str(tmp_path / "o.png"), "-q",
                 "--source-map", f"0={tmp_path / 'missing.jpg'}"]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_models_import_a_dfm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OBS_FACESWAP_MODELS", str(tmp_path / "models"))
    dfm = build_dfm(tmp_path / "My Celeb.dfm", 224, amp=True)
    assert main(["models", "import", str(dfm)]) == 0
    assert (tmp_path / "models" / "dfm" / "My Celeb.dfm").is_file()
    assert "--dfm-model My Celeb" in capsys.readouterr().out
    not_dfm = tmp_path / "x.png"
    not_dfm.write_bytes(b"png")
    assert main(["models", "import", str(not_dfm)]) == 2
    assert "FILE.dfm" in capsys.readouterr().err
