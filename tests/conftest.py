from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """scikit-image's public-domain portrait (512x512), BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def group_photo_path() -> Path:
    """insightface's bundled group photo (6-8 faces)."""
    import insightface

    return Path(os.path.dirname(insightface.__file__)) / "data" / "images" / "t1.jpg"


@pytest.fixture(scope="session")
def group_bgr(group_photo_path: Path) -> np.ndarray:
    img = cv2.imread(str(group_photo_path))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def astronaut_path(tmp_path_factory: pytest.TempPathFactory, astronaut_bgr: np.ndarray) -> Path:
    p = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(p), astronaut_bgr)
    return p
