"""Embedded lip sync: the mouth measured on the output follows the speech."""

from __future__ import annotations

import numpy as np
import pytest

from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.mesh_motion import (
    MIN_GAP_PX,
    OPEN_MAX,
    FaceFrame,
    deform_mouth,
    mouth_gap,
    mouth_opening,
)
from obs_faceswap.lipsync.motion import MouthShape, mouth_track, viseme
from obs_faceswap.lipsync.speech import Speech, load_speech
from tests.lipsync.conftest import frame_rms, lagged_r

FPS = 25.0


@pytest.fixture(scope="module")
def sync() -> EmbeddedLipSync:
    return EmbeddedLipSync()


def _measured_openings(sync: EmbeddedLipSync, photo: np.ndarray, shapes: list[MouthShape]) -> np.ndarray:
    face = sync.face(photo)
    assert face is not None
    rig = sync.rig(photo, face)
    out = []
    for shape in shapes:
        frame = sync.render(photo, rig, shape)
        again = sync.face(frame)  # re-detected from the output pixels
        assert again is not None
        out.append(mouth_opening(again.landmarks))
    return np.array(out)


def test_mouth_opening_on_the_output_follows_the_loudness(sync, astronaut_bgr, speech_wav) -> None:
    """Audio only (no phoneme timing): r >= 0.6 at lag 0, and no other lag within +-3 frames does clearly better."""
    speech = load_speech(speech_wav)
    assert not speech.phonemes
    shapes = mouth_track(speech, FPS)
    opening = _measured_openings(sync, astronaut_bgr, shapes)
    loud = frame_rms(speech.audio, speech.rate, FPS, len(shapes))
    rs = {lag: lagged_r(loud, opening, lag) for lag in range(-3, 4)}
    print("r by lag:", {k: round(v, 3) for k, v in rs.items()})
    assert rs[0] >= 0.6
    best = max(rs, key=rs.get)
    assert abs(best) <= 1, rs
    assert opening.max() - opening.min() > 0.12  # visibly opens and closes


def test_works_on_a_face_swapped_frame(sync, astronaut_bgr, group_bgr) -> None:
    from obs_faceswap.vision.merge import swap_all
    from obs_faceswap.vision.options import FaceOptions
    from obs_faceswap.vision.swappers.classical import ClassicalSwapper

    swapper = ClassicalSwapper()
    source = swapper.prepare_source([("group", group_bgr)]).value
    swapped = swap_all(astronaut_bgr, [sync.face(astronaut_bgr)], swapper, source, FaceOptions.from_settings({}))
    assert (np.abs(swapped.astype(int) - astronaut_bgr).max(axis=2) > 12).sum() > 500  # really swapped
    closed, wide = _measured_openings(sync, swapped, [MouthShape(0.0), MouthShape(1.0)])
    assert wide - closed > 0.15, (closed, wide)


def test_silence_keeps_the_mouth_closed(sync, astronaut_bgr) -> None:
    silent = Speech(np.zeros(16000 * 2, np.float32), 16000)
    shapes = mouth_track(silent, FPS)
    assert len(shapes) == 50 and all(s.opening == 0.0 for s in shapes)
    hiss = Speech((np.random.default_rng(0).standard_normal(32000) * 1e-4).astype(np.float32), 16000)  # -80 dBFS
    assert all(s.opening == 0.0 for s in mouth_track(hiss, FPS))
    opened = _measured_openings(sync, astronaut_bgr, [shapes[0], MouthShape(0.8)])
    assert opened[0] < 0.1 < opened[1]


def test_phonemes_close_the_lips_on_p_b_m(tts_speech) -> None:
    assert tts_speech.phonemes, "espeak-ng gave no phoneme timing"
    assert viseme("m") is None and viseme("p") is None and viseme("b") is None
    assert viseme("u:")[1] < 0 < viseme("i:")[1]
    shapes = mouth_track(tts_speech, FPS)
    closures = [p for p in tts_speech.phonemes if viseme(p.symbol) is None and p.end - p.start >= 1.5 / FPS]
    assert closures, [p.symbol for p in tts_speech.phonemes]
    for p in closures:
        mid = int(round((p.start + p.end) / 2 * FPS))
        assert shapes[mid].opening < 0.25, (p, shapes[mid])
    assert max(s.opening for s in shapes) > 0.7


def test_mesh_deformation_is_smooth_and_sets_the_gap(astronaut_bgr, sync) -> None:
    mesh = sync.face(astronaut_bgr).landmarks
    for target in (0.0, 0.3, 0.8):
        moved = deform_mouth(mesh, target)
        assert abs(mouth_gap(moved) - max(target * OPEN_MAX * FaceFrame(mesh).mouth_w, MIN_GAP_PX)) < 1e-2
        step = np.linalg.norm(moved - mesh, axis=1)
        assert step[[10, 151, 9, 8, 168, 6, 33, 263]].max() < 0.5  # forehead, nose bridge, eyes stay put


def test_a_small_face_in_a_big_picture_is_found(astronaut_bgr) -> None:
    """The fast whole-frame search misses a face 1/11 of a 1080p frame's height; the tiled one finds it."""
    import cv2

    big = np.full((1080, 1920, 3), 120, np.uint8)
    big[500:900, 1200:1600] = cv2.resize(astronaut_bgr, (400, 400))
    sync = EmbeddedLipSync()
    assert sync.detector.detect(big) == []
    face = sync.face(big)
    assert face is not None and 1200 < face.bbox[0] < face.bbox[2] < 1600
