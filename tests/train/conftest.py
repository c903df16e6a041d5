"""Face sets and stand-in models shared by the training tests (built once per session, offline)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory, astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> Path:
    """The astronaut, the insightface group photo (6 faces) and augmented copies that must be skipped."""
    d = tmp_path_factory.mktemp("photos_train")
    cv2.imwrite(str(d / "astronaut.png"), astronaut_bgr)
    cv2.imwrite(str(d / "group.jpg"), group_bgr)
    cv2.imwrite(str(d / "astronaut_again.jpg"), astronaut_bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])  # duplicate
    cv2.imwrite(str(d / "astronaut_blurred.png"), cv2.GaussianBlur(astronaut_bgr, (0, 0), 3))  # blurred
    cv2.imwrite(str(d / "astronaut_tiny.png"), cv2.resize(astronaut_bgr, (200, 200), interpolation=cv2.INTER_AREA))
    return d


@pytest.fixture(scope="session")
def faceset(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Path:
    """A 128 px whole-face set: the astronaut + six group faces, and a mirrored astronaut (8 faces)."""
    from obs_faceswap.train.extract import ExtractOptions, extract
    from obs_faceswap.vision.embedded import EmbeddedDetector

    out = tmp_path_factory.mktemp("faceset")
    extra = tmp_path_factory.mktemp("mirrored")
    img = cv2.imread(str(photo_dir / "astronaut.png"))
    cv2.imwrite(str(extra / "astronaut_mirrored.png"), np.ascontiguousarray(img[:, ::-1]))
    extract([photo_dir / "astronaut.png", photo_dir / "group.jpg", extra], out, EmbeddedDetector(threads=1),
            ExtractOptions(size=128), progress=False)
    return out


@pytest.fixture(scope="session")
def standin_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.standins import face as sf

    d = tmp_path_factory.mktemp("train_models")
    return {"teacher": sf.build_inswapper(d / "inswapper_128.onnx"), "arcface": sf.build_arcface(d / "w600k_r50.onnx")}
