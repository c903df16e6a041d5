"""The embedded swap changes who the face is (tests/vision/identity_harness.py: the proxy).

Astronaut -> each of the six faces of insightface's t1.jpg. Measured at the default (shape_strength
100 %) on 36 pairs (astronaut and t1's faces onto each other): the output mesh moves away from the
target and toward the source in every astronaut pair, and ends closer to the source than to the
target in 12/36 (9/36 before folds were pulled toward the local move); at 0 % in none.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.shape_transfer import (
    mesh3,
    mouth_opening,
    procrustes_distance,
    rigid_weights,
    rotation_angle_deg,
    similarity_fit,
    transfer_shape,
)
from obs_faceswap.vision.swappers.classical import ClassicalSwapper
from obs_faceswap.vision.swappers.classical.swapper import face_roi
from tests.vision.identity_harness import face_mesh3, measure, prepare, swap, t1_faces


@pytest.fixture(scope="module")
def detector() -> EmbeddedDetector:
    return EmbeddedDetector(provider="cpu")


@pytest.fixture(scope="module")
def setup(detector: EmbeddedDetector, astronaut_bgr: np.ndarray, group_bgr: np.ndarray):  # type: ignore[no-untyped-def]
    return t1_faces(detector, group_bgr), detector.detect(astronaut_bgr)[0]


def test_the_output_shape_is_the_sources_in_the_targets_pose_and_expression(setup) -> None:  # type: ignore[no-untyped-def]
    """The mesh the swap draws on: closer to the source than to the target on all six faces, the
    target's pose (within 3 degrees) and mouth opening (within 15 %)."""
    faces, astro = setup
    s = face_mesh3(astro)
    for face in faces:
        t = face_mesh3(face)
        new = mesh3(transfer_shape(s, t, 1.0), t[:, 2])
        assert procrustes_distance(new, s) < procrustes_distance(new, t)
        _, r, _ = similarity_fit(new, t, rigid_weights(t))
        assert rotation_angle_deg(r) < 3.0
        assert abs(mouth_opening(new) - mouth_opening(t)) <= 0.15 * max(mouth_opening(t), 0.1)


def test_the_swapped_face_is_recognised_as_moving_to_the_source(setup, detector: EmbeddedDetector,  # type: ignore[no-untyped-def]
                                                                 astronaut_bgr: np.ndarray,
                                                                 group_bgr: np.ndarray) -> None:
    faces, astro = setup
    results = {}
    for strength in (0, 100):
        sw = ClassicalSwapper(detector=detector)
        src = prepare(sw, astronaut_bgr)
        settings = {"shape_strength": strength}
        results[strength] = [measure(detector, lambda img, f, sw=sw, src=src, st=settings: swap(sw, img, [f], src, st),
                                     group_bgr,
                                     face, astro)[0] for face in faces]
    for flat, moved in zip(results[0], results[100], strict=True):
        print(f"to source {flat.to_source:.4f} -> {moved.to_source:.4f}, to target {flat.to_target:.4f} -> "
              f"{moved.to_target:.4f}, pose {moved.pose_deg:.1f}")
        assert moved.to_target > flat.to_target  # no longer the target's shape, on every face
    # and toward the source's, on every face (the strongly turned face 4 too since folds are pulled
    # toward the local move instead of back to none)
    assert all(m.to_source < f.to_source for f, m in zip(results[0], results[100], strict=True))
    assert not any(p.moved for p in results[0])  # the old swap: still the target's face
    assert sum(p.moved for p in results[100]) >= 2


def _gradient(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))  # type: ignore[no-any-return]


def test_no_seams_and_nothing_outside_the_roi_changes(setup, detector: EmbeddedDetector,  # type: ignore[no-untyped-def]
                                                      astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> None:
    """Gradient along the swap's edge (where the changed region ends) within 1.5x the target's own
    there; pixels outside every face's ROI byte-identical."""
    faces, _ = setup
    sw = ClassicalSwapper(detector=detector)
    out = swap(sw, group_bgr, faces, prepare(sw, astronaut_bgr))
    allowed = np.zeros(group_bgr.shape[:2], bool)
    for face in faces:
        x0, y0, x1, y1 = face_roi(face.landmarks, group_bgr.shape, 0.3 * float(face.bbox[2] - face.bbox[0]))  # type: ignore[arg-type,misc]
        allowed[y0:y1, x0:x1] = True
    changed = (out != group_bgr).any(-1)
    assert changed.any() and not changed[~allowed].any()
    # the edge of the swap: the outline of the region that changed visibly, per face
    visible = (np.abs(out.astype(int) - group_bgr).max(-1) > 6).astype(np.uint8)
    visible = cv2.morphologyEx(visible, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    edge = (visible - cv2.erode(visible, np.ones((3, 3), np.uint8))).astype(bool)
    g_out, g_in = _gradient(out), _gradient(group_bgr)
    for face in faces:
        x0, y0, x1, y1 = (int(v) for v in face.bbox)
        sel = np.zeros_like(edge)
        sel[y0:y1, x0:x1] = edge[y0:y1, x0:x1]
        ratio = float(g_out[sel].mean() / max(g_in[sel].mean(), 1e-3))
        print(f"face at x={x0}: edge gradient {ratio:.2f}x the target's")
        assert ratio <= 1.5


def test_several_source_photos_average_the_shape(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                                 group_bgr: np.ndarray) -> None:
    """The same person in other framings leaves the shape as it was; a second person's photo moves it
    half way (the skin is the best photo's)."""
    sw = ClassicalSwapper(detector=detector)
    one = prepare(sw, astronaut_bgr)
    h, w = astronaut_bgr.shape[:2]
    turned = cv2.warpAffine(astronaut_bgr, cv2.getRotationMatrix2D((w / 2, h / 2), 12, 0.8), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    same = prepare(sw, astronaut_bgr, turned)
    assert one.shape is not None and same.shape is not None
    assert procrustes_distance(same.shape, one.shape) < 0.004
    other_photo = np.ascontiguousarray(group_bgr[250:450, 430:620])
    other = prepare(sw, other_photo)
    mixed = prepare(sw, astronaut_bgr, other_photo)
    assert other.shape is not None and mixed.shape is not None
    apart = procrustes_distance(other.shape, one.shape)
    assert procrustes_distance(mixed.shape, one.shape) < 0.8 * apart
    assert procrustes_distance(mixed.shape, other.shape) < 0.8 * apart


def test_live_shape_does_not_flicker(detector: EmbeddedDetector, group_bgr: np.ndarray) -> None:
    """Under tracking and smoothing (the live defaults) a still face's shaped mesh jitters no more than
    its landmarks: the shape is computed once per source, the pose per frame, and the depth the pose
    uses is smoothed with the landmarks (it was 1.7x the landmarks' jitter before)."""
    from obs_faceswap.bench.pipeline import bench_frame
    from obs_faceswap.vision.swappers.classical.swapper import target_shape
    from obs_faceswap.vision.tracking import TrackedDetector

    frame = bench_frame()
    src = prepare(ClassicalSwapper(detector=detector), np.ascontiguousarray(group_bgr[250:450, 430:620]))
    rng = np.random.default_rng(0)
    tracked = TrackedDetector(detector, detect_every=3, smoothing=0.5)
    lm, shaped = [], []
    for _ in range(30):
        noisy = np.clip(frame + np.float32(4) * rng.standard_normal(frame.shape, np.float32), 0, 255).astype(np.uint8)
        face = tracked.detect(noisy)[0]
        lm.append(face.landmarks)
        shaped.append(target_shape(face.landmarks, face.extra.get("mesh_z"), src, 1.0))  # type: ignore[arg-type]
    j_lm, j_shaped = np.stack(lm[5:]).std(0).mean(), np.stack(shaped[5:]).std(0).mean()
    print(f"jitter: landmarks {j_lm:.4f} px, shaped mesh {j_shaped:.4f} px")
    assert j_shaped < 1.25 * j_lm


def _glasses_and_stubble(img: np.ndarray, face) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``img`` with dark glasses frames (rims, bridge, temples reaching past the face outline) and
    stubble on the chin and jaw (beyond the jaw line too), drawn from the face's mesh."""
    from obs_faceswap.vision.embedded import FACE_OVAL, LEFT_EYE, RIGHT_EYE

    out = img.copy()
    pts = face.landmarks
    size = float(np.ptp(pts, 0).max())
    rng = np.random.default_rng(3)
    # stubble: dark specks below the mouth corners' line, inside the outline grown by 6 %
    oval = pts[FACE_OVAL]
    c = oval.mean(0)
    region = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round((oval - c) * 1.06 + c).astype(np.int32)], 1)
    region[: int(pts[[61, 291], 1].mean()), :] = 0
    specks = (rng.random(img.shape[:2]) < 0.35) & region.astype(bool)
    dark = np.where(specks[..., None], out.astype(np.int16) - 70, out).clip(0, 255).astype(np.uint8)
    out = cv2.GaussianBlur(dark, (0, 0), 0.6)
    # glasses: rims round each eye, a bridge, temples out past the face's sides
    for eye in (RIGHT_EYE, LEFT_EYE):
        e = pts[eye]
        centre = tuple(int(v) for v in e.mean(0))
        axes = (int(0.17 * size), int(0.11 * size))
        cv2.ellipse(out, centre, axes, 0, 0, 360, (20, 20, 20), max(2, int(0.012 * size)), cv2.LINE_AA)
    r, le = pts[RIGHT_EYE].mean(0), pts[LEFT_EYE].mean(0)
    width = max(2, int(0.012 * size))
    cv2.line(out, tuple(int(v) for v in r + [0.17 * size, 0]), tuple(int(v) for v in le - [0.17 * size, 0]), (20, 20, 20), width)
    cv2.line(out, tuple(int(v) for v in r - [0.17 * size, 0]), tuple(int(v) for v in r - [0.45 * size, 0.03 * size]), (20, 20, 20), width)
    cv2.line(out, tuple(int(v) for v in le + [0.17 * size, 0]), tuple(int(v) for v in le + [0.45 * size, -0.03 * size]), (20, 20, 20), width)
    return out


def test_no_visible_edge_on_glasses_and_stubble(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                                group_bgr: np.ndarray) -> None:
    """A target with glasses frames running past the face outline and stubble beyond the jaw line: the
    swap's edge (where the visibly changed region ends) is no sharper than the target's own image
    there (gradient within 1.5x), so the pasted skin leaves no visible line across frames or stubble."""
    face = detector.detect(astronaut_bgr)[0]
    target = _glasses_and_stubble(astronaut_bgr, face)
    faces = detector.detect(target)
    assert len(faces) == 1
    sw = ClassicalSwapper(detector=detector)
    out = swap(sw, target, faces, prepare(sw, np.ascontiguousarray(group_bgr[250:450, 430:620])))
    visible = (np.abs(out.astype(int) - target).max(-1) > 6).astype(np.uint8)
    visible = cv2.morphologyEx(visible, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    edge = (visible - cv2.erode(visible, np.ones((3, 3), np.uint8))).astype(bool)
    ratio = float(_gradient(out)[edge].mean() / max(_gradient(target)[edge].mean(), 1e-3))
    print(f"glasses and stubble: edge gradient {ratio:.2f}x the target's")
    assert edge.sum() > 100 and ratio <= 1.5
