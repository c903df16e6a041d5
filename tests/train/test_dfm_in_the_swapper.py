"""A .dfm this project trains and exports runs in the DFM swapper on the crop it was trained on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from obs_faceswap.cli import main  # noqa: E402
from obs_faceswap.train.common import StopRule  # noqa: E402
from obs_faceswap.train.dfm import DfmTrainer  # noqa: E402
from obs_faceswap.train.dfm_model import DfmShape  # noqa: E402
from obs_faceswap.train.extract import read_faceset  # noqa: E402
from obs_faceswap.train.loop import run_training  # noqa: E402
from obs_faceswap.vision.face_types import cut_face  # noqa: E402
from obs_faceswap.vision.pipeline import FacePipeline  # noqa: E402
from obs_faceswap.vision.swappers.dfm import DfmSwapper  # noqa: E402

torch.set_num_threads(1)


def test_exported_dfm_swaps_and_sees_the_extractors_crop(faceset: Path, tmp_path: Path, photo_dir: Path) -> None:
    faces = read_faceset(faceset)
    src = [f for f in faces if "astronaut" in f.meta["source"]]
    dst = [f for f in faces if "group" in f.meta["source"]]
    shape = DfmShape(arch="df", resolution=128, ae_dims=16, e_dims=4, d_dims=4, d_mask_dims=2)
    run_training(DfmTrainer(src, dst, shape, batch=2), tmp_path / "run", StopRule(max_steps=1), preview_every=0,
                 progress=False)
    dfm = tmp_path / "person.dfm"
    assert main(["train", "export", str(tmp_path / "run"), "-o", str(dfm)]) == 0

    frame = cv2.imread(str(photo_dir / "astronaut.png"))
    pipe = FacePipeline.from_settings({"swapper": "dfm", "dfm_model": str(dfm), "detector": "embedded"})
    swapper = pipe._s.swapper
    assert isinstance(swapper, DfmSwapper) and swapper.size == 128 and not swapper.amp
    out = pipe.process(frame)
    assert pipe.last_error == "" and pipe.stats["faces"] == 1 and out.shape == frame.shape
    # the swapper's crop of this face is the extractor's crop of it (same face type, same module)
    face = pipe._s.base_detector.detect(frame)[0]  # type: ignore[union-attr]
    record = swapper.swap_face(frame, face, None, pipe.options)
    assert record is not None
    ours, _ = cut_face(frame, face.landmarks, "whole_face", 128)
    assert np.abs(record.crop.astype(int) - ours).max() == 0
    original = next(f for f in src if "mirrored" not in f.meta["source"])
    extracted = cv2.imread(str(original.image))
    assert np.abs(record.crop.astype(int) - extracted).mean() < 3.0
