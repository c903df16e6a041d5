"""obs-faceswap extract: aligned face sets from photos and videos, with what a trainer needs beside each crop."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.cli import main
from obs_faceswap.train.extract import read_faceset
from obs_faceswap.vision.align import transform_points
from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.face_types import FACE_TYPES, cut_face, face_type_transform


def test_extract_keeps_every_real_face_and_skips_blurred_tiny_and_duplicate_ones(
        photo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    assert main(["extract", str(photo_dir), "-o", str(out), "--size", "128", "--json", "--quiet"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["kept"] == 7  # the astronaut and the six people of the group photo
    assert rep["blurred"] == 1 and rep["too_small"] == 1 and rep["duplicates"] == 1
    faces = read_faceset(out)
    assert len(faces) == 7 and all(f.image.suffix == ".png" for f in faces)
    group = [f for f in faces if f.meta["source"].endswith("group.jpg")]
    assert len(group) == 6 and {f.meta["face"] for f in group} == set(range(6))
    # the sidecar's affine and landmarks reproduce the crop from the source photo
    rec = next(f for f in faces if f.meta["source"].endswith("astronaut.png"))
    src = cv2.imread(rec.meta["source"])
    m = np.array(rec.meta["affine"])
    crop = cv2.imread(str(rec.image))
    again = cv2.warpAffine(src, m, (128, 128), flags=cv2.INTER_CUBIC)
    assert np.abs(again.astype(int) - crop.astype(int)).mean() < 1.0
    lm = rec.landmarks
    assert lm.shape == (468, 2) and 0 <= lm.min() and lm.max() <= 128
    # eyes level and centred: the crop is aligned
    eyes = rec.kps[:2]
    assert abs(eyes[0, 1] - eyes[1, 1]) < 3 and abs(eyes.mean(0)[0] - 64) < 6


def test_face_types_cover_more_of_the_head_in_one_place(astronaut_bgr: np.ndarray) -> None:
    face = EmbeddedDetector(threads=1).detect(astronaut_bgr)[0]
    eye_dist = {}
    for name in FACE_TYPES:
        m = face_type_transform(face.landmarks, name, 256)
        k = transform_points(face.kps, m)
        eye_dist[name] = float(np.linalg.norm(k[1] - k[0]))
        crop, m2 = cut_face(astronaut_bgr, face.landmarks, name, 256)
        assert crop.shape == (256, 256, 3) and np.allclose(m, m2)
    # the eyes shrink in proportion to the coverage: 1.6 / 2.2 / 3.0
    assert eye_dist["face"] / eye_dist["head"] == pytest.approx(3.0 / 1.6, rel=1e-3)
    assert eye_dist["whole_face"] / eye_dist["head"] == pytest.approx(3.0 / 2.2, rel=1e-3)
    with pytest.raises(ValueError, match="unknown face type"):
        face_type_transform(face.landmarks, "torso", 256)


def test_extract_from_a_video_skips_near_identical_frames(astronaut_bgr: np.ndarray, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    still = tmp_path / "a.png"
    cv2.imwrite(str(still), astronaut_bgr)
    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", str(still), "-t", "0.5", "-r", "10",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    out = tmp_path / "set"
    assert main(["extract", str(clip), "-o", str(out), "--format", "jpg", "--every", "2", "--json", "--quiet"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["frames"] == 3 and rep["kept"] == 1 and rep["duplicates"] == 2
    (rec,) = read_faceset(out)
    assert rec.image.suffix == ".jpg" and rec.meta["frame"] == 0 and rec.meta["size"] == 256
    # adding the photo to the same set finds it is already there
    assert main(["extract", str(still), "-o", str(out), "--format", "jpg", "--json", "--quiet"]) == 1
    assert json.loads(capsys.readouterr().out)["duplicates"] == 1 and len(read_faceset(out)) == 1


def test_extract_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    with pytest.raises(Exception, match="make one with"):
        read_faceset(tmp_path / "nothing")
