"""Shape transfer and the surroundings morph as pure functions (synthetic meshes, no model)."""

from __future__ import annotations

import numpy as np

from obs_faceswap.vision import shape_transfer as st
from obs_faceswap.vision.surroundings import morph_surroundings, ring_points


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _face() -> np.ndarray:
    """A face-like 3-D point cloud on the mesh's indices: an ellipsoid cap with the landmarks used placed."""
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (468, 2)) * [0.8, 1.0]
    z = -0.5 * (1 - pts[:, 0] ** 2 - 0.5 * pts[:, 1] ** 2)
    m = np.column_stack([pts, z]) * 50 + [100, 100, 0]
    fixed = {33: (-0.55, -0.3), 133: (-0.2, -0.3), 263: (0.55, -0.3), 362: (0.2, -0.3), 168: (0, -0.3),
             2: (0, 0.2), 61: (-0.3, 0.45), 291: (0.3, 0.45), 13: (0, 0.44), 14: (0, 0.5), 78: (-0.25, 0.47),
             308: (0.25, 0.47), 234: (-0.8, -0.1), 454: (0.8, -0.1), 152: (0, 1.0), 10: (0, -1.0)}
    for i, (x, y) in fixed.items():
        m[i] = [100 + 50 * x, 100 + 50 * y, -25 * (1 - x * x)]
    return m


def test_similarity_fit_recovers_a_pose() -> None:
    a = _face()
    r = _rot(20, -10, 5)
    b = (a @ r.T) * 1.3 + [5, -7, 2]
    s, r2, t = st.similarity_fit(a, b)
    assert abs(s - 1.3) < 1e-6 and st.rotation_angle_deg(r2.T @ r) < 1e-4
    assert st.procrustes_distance(a, b) < 1e-9


def test_strength_zero_is_the_target_and_one_takes_the_source_proportions() -> None:
    target = _face()
    source = target.copy()
    source[[263, 362], 0] += 6.0  # the source's left eye sits further out
    source[[152], 1] += 8.0  # and its chin is longer
    turned = (source - 100) @ _rot(25, 5, 0).T * 0.7 + 300  # another pose and size in its photo
    same = st.transfer_shape(turned, target, 0.0)
    assert np.array_equal(same, target[:, :2].astype(np.float32))
    out = st.transfer_shape(turned, target, 1.0)
    assert abs((out[263, 0] - out[33, 0]) - (source[263, 0] - source[33, 0])) < 1.0  # eye spacing: source
    assert out[152, 1] - target[152, 1] > 6.0  # the longer chin
    half = st.transfer_shape(turned, target, 0.5)
    assert 2.0 < half[152, 1] - target[152, 1] < out[152, 1] - target[152, 1]


def test_mouth_opening_stays_the_targets() -> None:
    target = _face()
    source = target.copy()
    source[14, 1] += 10.0  # the source's mouth is wide open
    source[152, 1] += 10.0  # and its jaw dropped with it
    out = st.transfer_shape(source, target, 1.0)
    assert abs(st.mouth_opening(out) - st.mouth_opening(target[:, :2])) < 0.15 * st.mouth_opening(target[:, :2])
    assert abs(out[152, 1] - target[152, 1]) < 2.0  # the jaw drop is expression, not shape


def test_a_tracked_face_keeps_its_brow_raise_and_takes_the_source_brow_height() -> None:
    """Against the face's running neutral (live), the output brows are the source's brow height plus
    the target's raise from its neutral; on a single photo (no neutral) the raise cannot be told from
    the brow height and is the source's."""
    from obs_faceswap.vision.swappers.classical.masks import LEFT_BROW_PTS, RIGHT_BROW_PTS

    brows = np.concatenate([RIGHT_BROW_PTS, LEFT_BROW_PTS])
    neutral = _face()
    neutral[brows, 1] = 100 - 50 * 0.55  # the brows above the eyes
    source = neutral.copy()
    source[brows, 1] -= 5.0  # the source's brows sit 5 px higher (shape)
    raised = neutral.copy()
    raised[brows, 1] -= 4.0  # the target raises its brows by 4 px (expression)
    raised = (raised - 100) @ _rot(10, 0, 0).T + 100  # and has turned its head a little since

    def brow_height(mesh: np.ndarray, like: np.ndarray) -> float:  # brows above the eye corners, in like's pose
        m = st.mesh3(mesh, like[:, 2]) if mesh.shape[1] == 2 else mesh
        return float(np.mean(m[[33, 263], 1]) - np.mean(m[brows, 1]))

    base = brow_height(neutral, neutral)
    at_rest = st.transfer_shape(source, neutral, 1.0, st.expression_reference(neutral, neutral))
    assert abs(brow_height(at_rest, neutral) - base - 5.0) < 0.5  # the source's brow height
    tracked = st.transfer_shape(source, raised, 1.0, st.expression_reference(raised, neutral))
    print(f"brows above the neutral: at rest {brow_height(at_rest, neutral) - base:.2f}, tracked raise "
          f"{brow_height(tracked, raised) - base:.2f}, photo {brow_height(st.transfer_shape(source, raised, 1.0), raised) - base:.2f}")
    assert brow_height(tracked, raised) - base > 5.0 + 0.75 * 4.0  # ... plus the target's raise
    still = st.transfer_shape(source, raised, 1.0)
    assert brow_height(still, raised) - base < 5.0 + 0.4 * 4.0  # a photo: the raise is lost to the source's
    # the running neutral is the mean shape whatever the pose of each frame
    walk = st.update_neutral(None, raised, 1.0)
    walk = st.update_neutral(walk, (neutral - 100) @ _rot(-15, 5, 0).T * 1.2 + 100, 0.5)
    expected = (raised + st.align_to(neutral, raised)) / 2
    assert st.procrustes_distance(walk, expected) < 0.01


def test_average_shape_of_one_person_in_several_poses() -> None:
    face = _face()
    views = [face, (face - 100) @ _rot(15, 0, 0).T + 100, (face - 100) @ _rot(-10, 8, 3).T * 1.2 + 120]
    mean = st.average_shape(views)
    assert st.procrustes_distance(mean, face) < 1e-6


def test_morph_moves_the_face_and_keeps_the_roi_edge() -> None:
    h, w = 200, 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([(xx * 1.2) % 256, (yy * 1.2) % 256, (xx + yy) % 256]).astype(np.uint8)
    old = _face()[:, :2].astype(np.float32)
    new = old.copy()
    new[:, 1] += 4.0 * (old[:, 1] > 120)  # the lower face moves down 4 px
    out = morph_surroundings(img, old, new)
    edge = np.ones((h, w), bool)
    edge[1:-1, 1:-1] = False
    assert np.array_equal(out[edge], img[edge])  # the ROI's border (the fixed ring): untouched
    assert not np.array_equal(out, img)
    # a pixel at the chin now shows what was 4 px higher
    x, y = int(old[152, 0]), int(old[152, 1]) + 4
    assert np.abs(out[y, x].astype(int) - img[y - 4, x]).max() <= 3
    assert len(ring_points((h, w), 20)) >= 36


def test_a_smooth_correction_computed_downscaled_matches_the_full_size_one() -> None:
    from obs_faceswap.vision.lowres import correct_downscaled

    rng = np.random.default_rng(1)
    h, w = 400, 360
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.clip(np.dstack([xx / 2, yy / 2, (xx + yy) / 4]) + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    reference = np.zeros_like(image)
    def relight(img: np.ndarray, ref: np.ndarray, masks: object) -> np.ndarray:
        ramp = np.linspace(0.7, 1.2, img.shape[1], dtype=np.float32)[None, :, None]  # light from the right
        return np.clip(img.astype(np.float32) * ramp + 10, 0, 255).astype(np.uint8)  # type: ignore[no-any-return]

    full = relight(image, reference, ())
    fast = correct_downscaled(relight, image, reference, 100 / 320)  # a 320 px face at 100 px
    diff = np.abs(fast.astype(int) - full)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) < 12  # the lighting, and the noise (detail) kept
    assert np.abs(fast.astype(int) - image).mean() > 10


def test_unfold_pulls_back_a_fold_and_keeps_other_moves() -> None:
    from scipy.spatial import Delaunay

    g = np.mgrid[0:10, 0:10].reshape(2, -1).T.astype(np.float32) * 10  # a 10x10 grid, 10 px apart
    tri = Delaunay(g).simplices.astype(np.int32)
    new = g.copy()
    new[:, 0] += 3.0  # everything slides right...
    centre = 44  # ...and one point jumps past its neighbour: the mesh folds there
    new[centre, 0] += 15.0
    out = st.unfold(g, new, tri)
    areas = st._signed_areas(out, tri) / st._signed_areas(g, tri)
    assert areas.min() >= st.UNFOLD_MIN_AREA
    far = np.linalg.norm(g - g[centre], axis=1) > 40
    assert np.allclose(out[far], new[far], atol=0.05)  # moves far from the fold are kept
    assert np.array_equal(st.unfold(g, g + 2.0, tri), g + 2.0)  # no fold: unchanged


def _areas(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    t = p[tri]
    a, b = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # type: ignore[no-any-return]


def test_the_next_frame_reuses_the_morph_triangulation_and_looks_the_same() -> None:
    h, w = 200, 200
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.dstack([xx, yy, (xx + yy) // 2]).astype(np.uint8)  # grey level = position: shows any shift
    old = _face()[:, :2].astype(np.float32)
    new = old.copy()
    new[:, 0] += 3.0 * (old[:, 0] > 100)  # the right half of the face 3 px wider
    cache: dict[str, object] = {}
    morph_surroundings(img, old, new, cache)
    first = cache["morph_triangles"][1]  # type: ignore[index]
    # next frame: the head moved by a pixel; the triangulation still tiles the ROI and is reused
    out = morph_surroundings(img, old + 1.0, new + 1.0, cache)
    assert cache["morph_triangles"][1] is first  # type: ignore[index]
    fresh = morph_surroundings(img, old + 1.0, new + 1.0)
    diff = np.abs(out.astype(int) - fresh)
    assert diff.mean() < 0.2 and diff.max() <= 3  # within the 3 px the moves differ by


def test_the_morph_leaves_out_points_that_would_fold_it() -> None:
    from obs_faceswap.vision.surroundings import MORPH_POINTS, morph_triangles

    old = _face()[:, :2].astype(np.float32)[MORPH_POINTS]
    ring = ring_points((200, 200), 30)
    new = old.copy()
    i = int(np.argmin(np.abs(old - [130, 120]).sum(1)))
    new[i] += [-40.0, 5.0]  # one point dragged across its neighbours (a lip corner past the cheek)
    dst = np.concatenate([new, ring]).astype(np.float32)
    src = np.concatenate([old, ring]).astype(np.float32)
    tri = morph_triangles(dst, src, len(ring), "k")
    assert (_areas(dst, tri) > 0).all() and (_areas(src, tri) > 0).all()  # no triangle flips: no doubled skin
    assert i not in np.unique(tri)  # the offending point is left out
