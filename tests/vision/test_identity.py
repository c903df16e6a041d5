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
from tests.vision.identity_harness import (
    REGIONS,
    all_pairs,
    face_mesh3,
    prepare,
    readback,
    sources,
    swap,
    t1_faces,
)


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


@pytest.fixture(scope="module")
def pairs(detector: EmbeddedDetector, astronaut_bgr: np.ndarray, group_bgr: np.ndarray):  # type: ignore[no-untyped-def]
    """Both proxies on the 36 pairs at shape strength 0 and 100 %."""
    return {st: all_pairs(detector, astronaut_bgr, group_bgr, {"shape_strength": st}) for st in (0, 100)}


def test_the_swapped_face_is_recognised_as_moving_to_the_source(pairs) -> None:  # type: ignore[no-untyped-def]
    """Astronaut -> t1's six faces: away from the target and toward the source on every face."""
    flat = [p for name, _, p in pairs[0] if name == "astronaut"]
    moved = [p for name, _, p in pairs[100] if name == "astronaut"]
    for f, m in zip(flat, moved, strict=True):
        print(f"to source {f.to_source:.4f} -> {m.to_source:.4f}, to target {f.to_target:.4f} -> "
              f"{m.to_target:.4f}, pose {m.pose_deg:.1f}")
        assert m.to_target > f.to_target  # no longer the target's shape, on every face
        assert m.to_source < f.to_source  # and toward the source's (the strongly turned face 4 too)
    assert sum(p.moved for p in moved) >= 2


def test_thirty_six_pairs_both_proxies(pairs) -> None:  # type: ignore[no-untyped-def]
    """All 36 pairs. The issue's proxy (whole mesh): closer to the source in 14/36 measured (0/36 at
    0 %); the inner-feature proxy: 18/36 (0/36 at 0 %). Floors one below the measured counts (a pair
    on the edge flips with a tenth of a percent of the face size)."""
    for name, j, p in pairs[100]:
        print(f"{name} -> t1 face {j}: whole {p.to_source:.4f}/{p.to_target:.4f} "
              f"inner {p.inner_to_source:.4f}/{p.inner_to_target:.4f} pose {p.pose_deg:.1f}")
    assert len(pairs[100]) == 36
    assert not any(p.moved or p.inner_moved for _, _, p in pairs[0])
    whole, inner = (sum(p.moved for _, _, p in pairs[100]), sum(p.inner_moved for _, _, p in pairs[100]))
    drift = [p.pose_deg for _, _, p in pairs[100]]
    mouth = [p.mouth_error for _, _, p in pairs[100]]
    print(f"closer to the source: whole mesh {whole}/36, inner features {inner}/36; re-detected pose drift "
          f"mean {np.mean(drift):.1f} max {np.max(drift):.1f} deg; mouth opening error median {np.median(mouth):.2f}")
    assert whole >= 13
    assert inner >= 17
    # the re-detected pose is not within the 3 degrees (that is asserted on the drawn mesh): a
    # guard against it growing (4.6 mean measured; 2.2 at 0 %, where the source's texture alone moves it)
    assert np.mean(drift) < 5.5


def test_the_mesh_model_reads_the_inner_features_not_the_outline(detector: EmbeddedDetector,  # type: ignore[no-untyped-def]
                                                                 astronaut_bgr: np.ndarray, group_bgr: np.ndarray) -> None:
    """Why the second proxy: the target's own pixels morphed to the shaped mesh, the outline alone or
    the inner features alone. The re-detected outline follows an outline-only move by 0.07 of it (mean
    of the 36 pairs), while an inner-only move is read back at 0.4-0.6 on brows and lips and drags the
    outline along by about as much as the outline's own pixels do: the outline points are mostly the
    model's prior given the inner features."""
    from obs_faceswap.vision.embedded import FACE_OVAL
    from obs_faceswap.vision.swappers.classical.swapper import face_roi, morph_region, target_shape

    faces = t1_faces(detector, group_bgr)
    got: dict[str, list[float]] = {"outline alone: outline": [], "inner alone: outline": [],
                                   "inner alone: brows": [], "inner alone: lips": []}
    for name, photo, face in sources(detector, astronaut_bgr, group_bgr, faces):
        src = prepare(ClassicalSwapper(detector=detector), photo)
        for j, target in enumerate(faces):
            if name == f"t1 face {j}":
                continue
            pts = target.landmarks.astype(np.float32)
            shaped = target_shape(pts, target.extra.get("mesh_z"), src, 1.0)
            for part in ("outline", "inner"):
                # the outline alone: only the outline points move; the inner features alone: all but them
                new = (pts if part == "outline" else shaped).copy()
                new[FACE_OVAL] = (shaped if part == "outline" else pts)[FACE_OVAL]
                roi = face_roi(new, group_bgr.shape)
                assert roi is not None
                region = morph_region(group_bgr, pts, new, roi)
                assert region is not None
                sx, sy, pixels = region
                out = group_bgr.copy()
                out[sy:sy + pixels.shape[0], sx:sx + pixels.shape[1]] = pixels
                again = face_mesh3(detector.track_aligned(out, [target])[0])
                t, s = face_mesh3(target), face_mesh3(face)
                if part == "outline":
                    got["outline alone: outline"].append(readback(again, t, s, REGIONS["outline"]))
                else:
                    for region_name in ("outline", "brows", "lips"):
                        got[f"inner alone: {region_name}"].append(readback(again, t, s, REGIONS[region_name]))
    means = {k: float(np.mean(v)) for k, v in got.items()}
    print({k: round(v, 2) for k, v in means.items()})
    assert means["outline alone: outline"] < 0.15
    assert means["inner alone: brows"] > 0.35 and means["inner alone: lips"] > 0.35
    assert means["inner alone: outline"] > 0.5 * means["outline alone: outline"]


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
        shaped.append(target_shape(face.landmarks, face.extra.get("mesh_z"), src, 1.0,  # type: ignore[arg-type]
                                   face.extra.get("mesh_neutral")))
    j_lm, j_shaped = np.stack(lm[5:]).std(0).mean(), np.stack(shaped[5:]).std(0).mean()
    print(f"jitter: landmarks {j_lm:.4f} px, shaped mesh {j_shaped:.4f} px")
    assert j_shaped < 1.25 * j_lm


def test_live_brow_raise_carries_over(detector: EmbeddedDetector, astronaut_bgr: np.ndarray,
                                      group_bgr: np.ndarray) -> None:
    """Live (tracked), the user raising their brows raises the swapped face's brows: after ten still
    frames the astronaut's brows go up by 8 % of her face (lids kept), and the output's re-detected
    brows rise by at least 0.95 of what the camera image's do (1.03 measured; 0.88 with the offsets
    taken against the current frame, which hands most of the raise to the source's brow height: on the
    drawn mesh 0.9 of a raise is kept against 0.3, tests/vision/test_shape_transfer.py)."""
    from obs_faceswap.vision.surroundings import morph_surroundings
    from obs_faceswap.vision.swappers.classical.masks import LEFT_BROW_PTS, RIGHT_BROW_PTS
    from obs_faceswap.vision.tracking import TrackedDetector

    brows = np.concatenate([RIGHT_BROW_PTS, LEFT_BROW_PTS])
    pts = detector.detect(astronaut_bgr)[0].landmarks.astype(np.float32)  # type: ignore[union-attr]
    size = float(np.ptp(pts, 0).max())
    lid = float(pts[[159, 386], 1].mean()) - 0.03 * size  # the upper lids stay
    up = np.clip((lid - pts[:, 1]) / (lid - float(pts[brows, 1].mean())), 0, 1).astype(np.float32)
    raised = morph_surroundings(astronaut_bgr, pts, pts - np.outer(0.08 * size * up, [0, 1]).astype(np.float32))

    def brow_height(face) -> float:  # type: ignore[no-untyped-def]
        return float(face.landmarks[[33, 263], 1].mean() - face.landmarks[brows, 1].mean())

    sw = ClassicalSwapper(detector=detector)
    src = prepare(sw, np.ascontiguousarray(group_bgr[250:450, 430:620]))
    tracked = TrackedDetector(detector, detect_every=3, smoothing=0.5)
    for _ in range(10):
        still = tracked.detect(astronaut_bgr)[0]
    before = swap(sw, astronaut_bgr, [still], src)
    for _ in range(3):
        moving = tracked.detect(raised)[0]
    after = swap(sw, raised, [moving], src)
    camera = detector.track_aligned(raised, [still])[0]
    out0, out1 = (detector.track_aligned(img, [still])[0] for img in (before, after))
    raise_in = brow_height(camera) - brow_height(still)
    raise_out = brow_height(out1) - brow_height(out0)
    print(f"brows raised by {raise_in:.2f} px in the camera image, {raise_out:.2f} px in the output")
    assert raise_in > 2.0 and raise_out > 0.95 * raise_in


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
