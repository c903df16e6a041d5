"""The pipeline swaps all faces of a frame in one model run (batched swapper) with the same result."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.bench.neural import SIZES, group_frame
from obs_faceswap.models.standins.batched import build_inswapper_batched
from obs_faceswap.vision.merge import swap_all
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.swappers.base import Swapper
from obs_faceswap.vision.swappers.batch import batch_capacity
from tests.standins import face as sf


class _OneByOne:
    """The same swapper seen without its batched ``swap_faces``: the per-face path."""

    def __init__(self, inner: Swapper) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        if name == "swap_faces":
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize("boost", [0, 256])  # 256: pixel boost, 4 sub-images per face, 12 in one run
def test_three_faces_in_one_run_match_one_by_one(tmp_path: Path, boost: int) -> None:
    frame, placed = group_frame(*SIZES["720p"], 3)
    det = sf.build_scrfd(tmp_path / "det.onnx", [sf.PlacedFace(tuple(b), [tuple(p) for p in k]) for b, k in placed],
                         (frame.shape[1], frame.shape[0]), duplicates=False)
    photo = tmp_path / "source.png"
    cv2.imwrite(str(photo), frame[:, 213:213 + 427])  # one face of the frame, as the source photo
    pipe = FacePipeline.from_settings({
        "swapper": str(build_inswapper_batched(tmp_path / "reswapper_dyn.onnx")),
        "embedder": str(sf.build_arcface(tmp_path / "arcface.onnx")), "detector": str(det),
        "source_image": str(photo), "face_selection": "all", "color_method": "none",
        **({"pixel_boost": boost} if boost else {})})
    swapper = pipe._s.swapper
    assert pipe.options.pixel_boost == (boost or 128)
    assert swapper is not None and batch_capacity(swapper.model) == 0  # type: ignore[attr-defined]
    out = pipe.process(frame)
    assert pipe.last_error == "" and pipe.stats["faces"] == 3
    faces = pipe._s.detector.detect(frame)  # type: ignore[union-attr]
    ref = swap_all(frame, faces, _OneByOne(swapper), pipe._s.source.value, pipe.options)  # type: ignore[union-attr,arg-type]
    assert int(np.abs(out.astype(int) - ref).max()) <= 1
    for box, _ in placed:  # and every face really changed
        x0, y0, x1, y1 = box.astype(int)
        assert np.abs(out[y0:y1, x0:x1].astype(int) - frame[y0:y1, x0:x1]).max(axis=2).mean() > 3
