"""The embedded face detector: BlazeFace (short range) + Face Mesh, shipped in ``models/embedded``.

Both networks are mediapipe 0.10.21's Apache-2.0 models converted once to ONNX by
``tools/convert_mediapipe.py`` (see ``docs/embedded.md``); they run through
``create_session`` like every other model, so the worker does not depend on mediapipe.

Pipeline per frame:
  1. BlazeFace on the whole frame (letterboxed to 128x128) and, for small faces, on
     overlapping square tiles; 896 SSD anchors decoded here; weighted NMS over all passes.
  2. Face Mesh on a 192x192 crop around each detection, rotated so the eyes are level
     (mediapipe's recipe: box centre, 1.5x the long side); a second pass re-crops from the
     mesh itself, which is also how frames are tracked (``track``).
  3. 468 landmarks mapped back to the frame; the bbox and the 5 insightface key points
     (eye centres, nose tip, mouth corners) come from the mesh.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.models.manifest import data_dir
from obs_faceswap.models.session import Session, create_session
from obs_faceswap.models.signatures import family_signature
from obs_faceswap.vision.lowres import shrink
from obs_faceswap.vision.types import Face, Frame, Points

EMBEDDED_DIR = data_dir() / "embedded"
DETECTOR_FILE = "face_detector.onnx"
MESH_FILE = "face_mesh.onnx"

# I/O of the converted files: models/signatures.py (families embedded_face_detector / embedded_face_mesh)
DETECTOR_FAMILY = "embedded_face_detector"
MESH_FAMILY = "embedded_face_mesh"

DET_SIZE = 128
MESH_SIZE = 192
CROP_SCALE = 1.5  # crop side = 1.5 x face size (mediapipe's face_landmark_front)

# Face-mesh indices (canonical mediapipe topology). "right" = the subject's right = image left
# on a frontal, upright face, which is insightface's first eye.
RIGHT_EYE = np.array([33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246])
LEFT_EYE = np.array([263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466])
NOSE_TIP = 1
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                      377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109])
INNER_LIPS = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95])
OUTER_LIPS = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146])


def embedded_model_path(name: str) -> Path:
    """Path of a shipped embedded model (``$OBS_FACESWAP_EMBEDDED`` overrides the folder)."""
    folder = os.environ.get("OBS_FACESWAP_EMBEDDED")
    return (Path(folder) if folder else EMBEDDED_DIR) / name


def ssd_anchors() -> npt.NDArray[np.float32]:
    """The 896 anchor centres (x, y), normalised, of BlazeFace short range.

    mediapipe's SsdAnchorsCalculator options for this model: 4 layers, strides 8, 16, 16, 16,
    input 128x128, anchor offset 0.5, aspect ratio 1 plus one interpolated scale, fixed anchor
    size. Layers with the same stride share a grid, so each 16x16 cell of stride 8 has 2
    anchors and each 8x8 cell of stride 16 has 3 x 2 = 6, in row-major cell order.
    """
    out = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = DET_SIZE // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def decode_detections(regressors: npt.NDArray[np.float32], classificators: npt.NDArray[np.float32],
                      anchors: npt.NDArray[np.float32], threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw outputs -> (boxes (N,4) x1y1x2y2, key points (N,6,2), scores (N,)) in [0,1] units."""
    scores = _sigmoid(classificators.reshape(-1))
    keep = np.nonzero(scores >= threshold)[0]
    raw = regressors.reshape(-1, 16)[keep] / DET_SIZE
    a = anchors[keep]
    cx, cy = raw[:, 0] + a[:, 0], raw[:, 1] + a[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
    return boxes, kps, scores[keep]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """mediapipe's weighted NMS: overlapping candidates are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (_iou(boxes[i], boxes) > iou_threshold)
        group[i] = True
        wts = scores[group][:, None]
        box = (boxes[group] * wts).sum(0) / wts.sum()
        kp = (kps[group] * wts[:, :, None]).sum(0) / wts.sum()
        out.append((box, kp, float(scores[i])))
        alive &= ~group
    return out


def five_points(mesh: Points) -> Points:
    """insightface's 5 key points from a 468-point mesh: eye centres, nose tip, mouth corners."""
    return np.stack([mesh[RIGHT_EYE].mean(0), mesh[LEFT_EYE].mean(0), mesh[NOSE_TIP],
                     mesh[MOUTH_RIGHT], mesh[MOUTH_LEFT]]).astype(np.float32)


def crop_matrix(centre: Sequence[float], size: float, angle_deg: float, out_size: int = MESH_SIZE) -> np.ndarray:
    """2x3 affine: frame -> ``out_size`` square crop of side ``size`` around ``centre``, rotated by ``angle_deg``."""
    rot = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle_deg, out_size / max(size, 1.0))
    rot[:, 2] += out_size / 2.0 - np.asarray(centre, np.float64)
    return rot


def mesh_crop_from_landmarks(mesh: Points) -> np.ndarray:
    """Crop matrix for the next mesh pass, derived from a mesh (eyes level, 1.5x the face)."""
    v = mesh[LEFT_EYE_OUTER] - mesh[RIGHT_EYE_OUTER]
    angle = float(np.degrees(np.arctan2(v[1], v[0])))
    centre = (mesh.min(0) + mesh.max(0)) / 2.0
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    r = (mesh - centre) @ np.array([[c, -s], [s, c]], np.float32)  # un-rolled
    size = float((r.max(0) - r.min(0)).max()) * CROP_SCALE
    return crop_matrix(centre, size, angle)


class EmbeddedDetector:
    """Face detector with dense landmarks that needs no download (implements ``FaceDetector``).

    ``small_faces`` adds tiled detection passes so faces down to ~1/11 of the frame's short side
    are found (group photos); turn it off for a webcam close-up to save time.
    """

    name = "embedded"

    def __init__(self, *, provider: str = "cpu", threads: int = 1, score_threshold: float = 0.5,
                 presence_threshold: float = 0.5, small_faces: bool = True, refine: bool = True,
                 max_faces: int = 16, detector_path: str | os.PathLike[str] | None = None,
                 mesh_path: str | os.PathLike[str] | None = None) -> None:
        det_in, det_out = family_signature(DETECTOR_FAMILY)
        mesh_in, mesh_out = family_signature(MESH_FAMILY)
        self.det: Session = create_session(detector_path or embedded_model_path(DETECTOR_FILE), provider,
                                           threads=threads, expect_inputs=det_in, expect_outputs=det_out,
                                           family=DETECTOR_FAMILY)
        self.mesh: Session = create_session(mesh_path or embedded_model_path(MESH_FILE), provider, threads=threads,
                                            expect_inputs=mesh_in, expect_outputs=mesh_out, family=MESH_FAMILY)
        self.providers = sorted(set(self.det.providers) | set(self.mesh.providers))
        self.score_threshold = score_threshold
        self.presence_threshold = presence_threshold
        self.small_faces = small_faces
        self.refine = refine
        self.max_faces = max_faces
        self.anchors = ssd_anchors()

    # -- detection --------------------------------------------------------------------------

    def sessions(self) -> list[Session]:
        return [self.det, self.mesh]

    def _passes(self, frame: Frame, part: tuple[int, int] | None = None
                ) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
        """Detector inputs (B,128,128,3) in [-1,1] RGB and, per input, (x0, y0, side) in the frame.

        ``part`` = (k, n) keeps only every n-th tile starting at k (the whole view is always in).
        """
        h, w = frame.shape[:2]
        rgb_scale = []  # (image, x0, y0, side)
        tiled = self.small_faces and min(h, w) >= 2 * DET_SIZE
        tile = min(h, w) * 0.6  # faces down to ~0.15 of a tile (BlazeFace's smallest anchor scale)
        base = frame
        if tiled:  # one area-downscale of the frame serves the tiles and (downscaled again) the whole view
            scale = DET_SIZE / tile
            base = shrink(frame, (max(1, round(w * scale)), max(1, round(h * scale))), 4.0)
        bh, bw = base.shape[:2]
        s_all = DET_SIZE / max(bh, bw)
        small = shrink(base, (max(1, round(bw * s_all)), max(1, round(bh * s_all))), 4.0)
        box = np.zeros((DET_SIZE, DET_SIZE, 3), np.uint8)
        box[: small.shape[0], : small.shape[1]] = small
        rgb_scale.append((box, 0.0, 0.0, float(max(h, w))))
        if tiled:
            step = tile * 0.75
            ys = np.unique(np.clip(np.round(np.arange(0, h - tile + step, step) * scale), 0, bh - DET_SIZE))
            xs = np.unique(np.clip(np.round(np.arange(0, w - tile + step, step) * scale), 0, bw - DET_SIZE))
            spots = [(int(y), int(x)) for y in ys for x in xs]
            if part is not None:
                spots = spots[part[0] % part[1]:: part[1]]
            for y, x in spots:
                rgb_scale.append((base[y:y + DET_SIZE, x:x + DET_SIZE], x / scale, y / scale, tile))
        rgb = np.ascontiguousarray(np.stack([b for b, *_ in rgb_scale])[..., ::-1])
        batch = rgb.astype(np.float32) * np.float32(1.0 / 127.5) - np.float32(1.0)
        return batch, [(x0, y0, s) for _, x0, y0, s in rgb_scale]

    def detect_boxes(self, frame: Frame, part: tuple[int, int] | None = None
                     ) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """BlazeFace only: (box x1y1x2y2, 6 key points, score) in frame pixels, after weighted NMS.

        ``part`` = (k, n) runs only every n-th small-face tile (round-robin use while tracking).
        """
        batch, places = self._passes(frame, part)
        reg, cls = self.det.run({"input": batch})
        return self._boxes(reg, cls, places)

    def _boxes(self, reg: np.ndarray, cls: np.ndarray, places: Sequence[tuple[float, float, float]]
               ) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """One frame's BlazeFace outputs (one row per pass) -> its detections in frame pixels."""
        all_b, all_k, all_s = [], [], []
        for i, (x0, y0, side) in enumerate(places):
            b, k, s = decode_detections(reg[i], cls[i], self.anchors, self.score_threshold)
            if len(s):
                all_b.append(b * side + [x0, y0, x0, y0])
                all_k.append(k * side + [x0, y0])
                all_s.append(s)
        if not all_s:
            return []
        boxes, kps, scores = np.concatenate(all_b), np.concatenate(all_k), np.concatenate(all_s)
        return weighted_nms(boxes, kps, scores)[: self.max_faces]

    def detect(self, frame: Frame) -> list[Face]:
        """All faces, each with the 468-point mesh in ``landmarks`` and mesh-derived ``kps``/``bbox``."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 16 or frame.shape[1] < 16:
            return []
        return self.faces_from_boxes(frame, self.detect_boxes(frame))

    def faces_from_boxes(self, frame: Frame, found: Sequence[tuple[np.ndarray, np.ndarray, float]]) -> list[Face]:
        """Face mesh on each BlazeFace detection (rotated crop), refined once from the mesh itself."""
        return self._faces_from_boxes_many([frame], [found])[0]

    def detect_many(self, frames: Sequence[Frame]) -> list[list[Face]]:
        """``detect`` of every frame, each model run once for all of them (the detector's passes of
        every frame stacked, then the mesh crops of every face): the same faces as frame by frame."""
        ok = [f.ndim == 3 and f.shape[2] == 3 and f.shape[0] >= 16 and f.shape[1] >= 16 for f in frames]
        passes = [self._passes(f) for f, good in zip(frames, ok, strict=True) if good]
        found: list[list[tuple[np.ndarray, np.ndarray, float]]] = []
        if passes:
            reg, cls = self.det.run({"input": np.concatenate([b for b, _ in passes])})
            at = 0
            for batch, places in passes:
                found.append(self._boxes(reg[at:at + len(batch)], cls[at:at + len(batch)], places))
                at += len(batch)
        faces = iter(self._faces_from_boxes_many([f for f, good in zip(frames, ok, strict=True) if good], found))
        return [next(faces) if good else [] for good in ok]

    def _faces_from_boxes_many(self, frames: Sequence[Frame],
                               found: Sequence[Sequence[tuple[np.ndarray, np.ndarray, float]]]) -> list[list[Face]]:
        jobs: list[tuple[int, np.ndarray, float]] = []  # (frame, crop matrix, score) of every detection
        for i, boxes in enumerate(found):
            for box, kp, score in boxes:
                v = kp[1] - kp[0]  # BlazeFace key points 0/1: right eye -> left eye
                angle = float(np.degrees(np.arctan2(v[1], v[0])))
                centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                size = float(max(box[2] - box[0], box[3] - box[1])) * CROP_SCALE
                jobs.append((i, crop_matrix(centre, size, angle), score))
        faces: list[list[Face]] = [[] for _ in frames]
        for (i, _, _), face in zip(jobs, self._mesh_many(frames, jobs), strict=True):
            if face is not None:
                faces[i].append(face)
        if self.refine:
            jobs = [(i, *_mesh_crop(f)) for i, fs in enumerate(faces) for f in fs]
            faces = [[] for _ in frames]
            for (i, _, _), face in zip(jobs, self._mesh_many(frames, jobs), strict=True):
                if face is not None:
                    faces[i].append(face)
        return [_dedupe(fs) for fs in faces]

    # -- landmarks --------------------------------------------------------------------------
    def track(self, frame: Frame, previous: Sequence[Face]) -> list[Face]:
        """Re-run only the mesh on crops derived from ``previous`` faces (no detection).

        Faces whose crop no longer holds a face (presence below threshold) are dropped.
        """
        return [f for f in self.track_aligned(frame, previous) if f is not None]

    def track_aligned(self, frame: Frame, previous: Sequence[Face]) -> list[Face | None]:
        """Like ``track`` but one entry per previous face, ``None`` where the face was lost.

        A previous face without a 468-point mesh (from another detector) is cropped from its
        box and eyes, so this also adds a mesh to SCRFD faces.
        """
        return self._mesh_many([frame], [(0, *_mesh_crop(f)) for f in previous])

    def _mesh_many(self, frames: Sequence[Frame], jobs: Sequence[tuple[int, np.ndarray, float]]) -> list[Face | None]:
        """The mesh on each (frame index, crop matrix, score) in one run; None where no face is present."""
        if not jobs:
            return []
        crops = [cv2.warpAffine(frames[i], m, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT) for i, m, _ in jobs]
        x = np.ascontiguousarray(np.stack(crops)[..., ::-1]).astype(np.float32) * np.float32(1.0 / 255.0)
        pts, flag = self.mesh.run({"input_1": x})
        presence = _sigmoid(flag.reshape(-1))
        faces: list[Face | None] = []
        for i, (_, m, score) in enumerate(jobs):
            if presence[i] < self.presence_threshold:
                faces.append(None)
                continue
            p = pts[i].reshape(468, 3)
            inv = cv2.invertAffineTransform(m)
            xy = (p[:, :2] @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
            lo, hi = xy.min(0), xy.max(0)
            faces.append(Face(bbox=np.array([lo[0], lo[1], hi[0], hi[1]], np.float32),
                              score=float(min(score, presence[i]) if score else presence[i]),
                              kps=five_points(xy), landmarks=xy,
                              extra={"presence": float(presence[i]),
                                     "mesh_z": (p[:, 2] / float(np.hypot(m[0, 0], m[0, 1]))).astype(np.float32)}))
        return faces


def _mesh_crop(face: Face) -> tuple[np.ndarray, float]:
    """(crop matrix, score) of the next mesh pass on ``face``: from its mesh, or from its box and eyes
    when it has none (a face from another detector)."""
    pts = face.landmarks if face.landmarks is not None and len(face.landmarks) == 468 else None
    if pts is not None:
        return mesh_crop_from_landmarks(pts), face.score
    v = face.kps[1] - face.kps[0]
    angle = float(np.degrees(np.arctan2(v[1], v[0])))
    x1, y1, x2, y2 = (float(t) for t in face.bbox)
    return crop_matrix(((x1 + x2) / 2, (y1 + y2) / 2), max(x2 - x1, y2 - y1) * CROP_SCALE, angle), face.score


def _dedupe(faces: list[Face], iou: float = 0.5) -> list[Face]:
    """Drop faces whose mesh box overlaps a higher-scoring one (two detections of one face)."""
    faces = sorted(faces, key=lambda f: -f.score)
    kept: list[Face] = []
    for f in faces:
        if all(_iou(k.bbox, f.bbox[None])[0] <= iou for k in kept):
            kept.append(f)
    return kept


class UsesEmbeddedDetector:
    """For a swapper that finds landmarks itself: the ``EmbeddedDetector`` it was given, or one made on
    first use (loading the mesh models only when a photo or frame really needs them)."""

    _detector: EmbeddedDetector | None = None

    @property
    def detector(self) -> EmbeddedDetector:
        if self._detector is None:
            self._detector = EmbeddedDetector()
        return self._detector
