"""A different source per face (``source_map``): two people in frame become two different people."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from obs_faceswap.errors import FaceSwapError, ImageReadError
from obs_faceswap.vision.pipeline import FacePipeline
from obs_faceswap.vision.source_map import MapEntry, parse_source_map
from tests.standins import face as sf

KPS = np.asarray(sf.ASTRONAUT_KPS, np.float32)
ASTRO_FACE = sf.PlacedFace(sf.ASTRONAUT_BOX, sf.ASTRONAUT_KPS)


def test_parse_source_map() -> None:
    entries = parse_source_map(" 0=a.jpg; ref.jpg = b.jpg\n0=c.jpg;; ")
    assert entries == [MapEntry("0", ("a.jpg", "c.jpg")), MapEntry("ref.jpg", ("b.jpg",))]
    assert [e.index for e in entries] == [0, None]
    assert parse_source_map("") == []
    with pytest.raises(FaceSwapError, match="POSITION=photo"):
        parse_source_map("0=a.jpg;b.jpg")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, astronaut_bgr: np.ndarray) -> dict:  # type: ignore[type-arg]
    """Two people side by side (the astronaut, and a recoloured astronaut: another 'person' for the
    stand-in recogniser), two source photos, a detector that finds them, stand-in models."""
    d = tmp_path_factory.mktemp("source_map")
    other = np.ascontiguousarray(255 - astronaut_bgr[:, :, ::-1])
    frame = np.full((512, 1024, 3), 128, np.uint8)
    frame[:, :512] = astronaut_bgr
    frame[64:448, 576:960] = cv2.resize(other, (384, 384))
    right_kps = KPS * 0.75 + [576, 64]
    right_box = np.asarray(sf.ASTRONAUT_BOX).reshape(2, 2) * 0.75 + [576, 64]
    faces = [ASTRO_FACE, sf.PlacedFace(tuple(right_box.reshape(-1)), [tuple(p) for p in right_kps])]
    paths = {}
    for name, img in (("a", cv2.GaussianBlur(astronaut_bgr, (0, 0), 3)), ("b", np.ascontiguousarray(255 - astronaut_bgr)),
                      ("other", other)):
        paths[name] = d / f"{name}.png"
        cv2.imwrite(str(paths[name]), img)
    det = sf.FixedDetector({(512, 512): [ASTRO_FACE], (512, 1024): faces})
    base = {"swapper": str(sf.build_inswapper(d / "inswapper_128.onnx")), "color_method": "none",
            "embedder": str(sf.build_arcface(d / "w600k_r50.onnx"))}
    return {"frame": frame, "det": det, "base": base, **paths}


def _run(scene: dict, **settings: object) -> np.ndarray:  # type: ignore[type-arg]
    pipe = FacePipeline.from_settings({**scene["base"], **settings}, detector=scene["det"])
    out = pipe.process(scene["frame"])
    assert pipe.last_error == "", pipe.last_error
    return out


def test_two_faces_get_two_sources_by_position(scene: dict) -> None:  # type: ignore[type-arg]
    frame = scene["frame"]
    mapped = _run(scene, source_map=f"0={scene['a']};1={scene['b']}")
    only_a = _run(scene, source_image=str(scene["a"]), face_selection="index", face_index=0)
    only_b = _run(scene, source_image=str(scene["b"]), face_selection="index", face_index=1)
    left, right = (slice(None), slice(0, 512)), (slice(None), slice(512, 1024))
    np.testing.assert_array_equal(mapped[left], only_a[left])
    np.testing.assert_array_equal(mapped[right], only_b[right])
    assert np.abs(mapped[left].astype(int) - frame[left]).sum() > 0
    assert np.abs(mapped[right].astype(int) - frame[right]).sum() > 0
    # the two identities really differ: the right face with A's source is another picture
    both_a = _run(scene, source_image=str(scene["a"]), face_selection="all")
    assert (np.abs(both_a[right].astype(int) - mapped[right]).max(2) > 10).sum() > 1000


def test_unmapped_selected_faces_use_the_source_photo(scene: dict) -> None:  # type: ignore[type-arg]
    mixed = _run(scene, source_map=f"1={scene['b']}", source_image=str(scene["a"]), face_selection="all")
    both_a = _run(scene, source_image=str(scene["a"]), face_selection="all")
    only_b = _run(scene, source_image=str(scene["b"]), face_selection="index", face_index=1)
    np.testing.assert_array_equal(mixed[:, :512], both_a[:, :512])
    np.testing.assert_array_equal(mixed[:, 512:], only_b[:, 512:])
    # a map alone swaps only the faces it names (no source_image: nothing else changes)
    alone = _run(scene, source_map=f"1={scene['b']}")
    np.testing.assert_array_equal(alone[:, :512], scene["frame"][:, :512])


def test_reference_photo_key_picks_that_person(scene: dict) -> None:  # type: ignore[type-arg]
    by_ref = _run(scene, source_map=f"{scene['other']}={scene['b']}", reference_threshold=0.3)
    only_b = _run(scene, source_image=str(scene["b"]), face_selection="index", face_index=1)
    np.testing.assert_array_equal(by_ref[:, 512:], only_b[:, 512:])
    np.testing.assert_array_equal(by_ref[:, :512], scene["frame"][:, :512])


def test_bad_map_is_refused_and_the_running_pipeline_kept(scene: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    pipe = FacePipeline.from_settings({**scene["base"], "source_map": f"0={scene['a']}"}, detector=scene["det"])
    with pytest.raises(FaceSwapError, match="POSITION=photo"):
        pipe.update(pipe.options.with_changes({"source_map": "0"}))
    with pytest.raises(ImageReadError, match="missing.png"):
        pipe.update(pipe.options.with_changes({"source_map": f"0={tmp_path / 'missing.png'}"}))
    assert pipe.options.source_map == f"0={scene['a']}"
    assert np.abs(pipe.process(scene["frame"])[:, :512].astype(int) - scene["frame"][:, :512]).sum() > 0
