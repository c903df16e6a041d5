"""Detect every N frames, track the face mesh in between, and steady the landmarks (live/video).

``TrackedDetector`` wraps any ``FaceDetector``:
  * a full detection runs on the first frame, every ``detect_every`` frames, after a scene
    change (the frame's thumbnail changed a lot) and whenever a tracked face is lost;
  * in between only the face mesh runs, on a crop derived from the previous frame's face
    (``EmbeddedDetector.track_aligned``); faces from a detector without a mesh (SCRFD) keep the
    detector's key-point convention: their points are carried along by the similarity motion of
    the mesh between frames;
  * every face track is smoothed with a One-Euro filter (Casiez et al. 2012) working in face-size
    units: a still face does not jitter, a moving face is followed with little lag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.embedded import EmbeddedDetector
from obs_faceswap.vision.lowres import shrink
from obs_faceswap.vision.types import Face, FaceDetector, Frame

SCENE_CHANGE = 40.0  # mean absolute thumbnail difference (0..255) that counts as a cut
MATCH_IOU = 0.3
TILE_ROUNDS = 4  # while tracking, each periodic detection scans 1/4 of the small-face tiles
NEUTRAL_EVERY = 3  # a track's running neutral mesh (the embedded swap's expression reference): updated every 3rd frame


class OneEuro:
    """One-Euro low-pass filter over an array of points, with one adaptive cut-off per update.

    Units: positions in face sizes, time in seconds. ``min_cutoff`` (Hz) sets the smoothing of a
    still face; ``beta`` raises the cut-off with speed, so fast motion is not delayed.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: npt.NDArray[np.float64] | None = None
        self.dx: npt.NDArray[np.float64] | None = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: npt.NDArray[np.float64], dt: float) -> npt.NDArray[np.float64]:
        if self.x is None or self.x.shape != x.shape:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        assert self.dx is not None
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        speed = float(np.sqrt((self.dx ** 2).sum(-1)).mean())  # mean point speed, face sizes / s
        a = self._alpha(self.min_cutoff + self.beta * speed, dt)
        self.x = a * x + (1 - a) * self.x
        return self.x


def smoothing_params(smoothing: float) -> tuple[float, float]:
    """User smoothing 0..1 -> (min_cutoff Hz, beta). 0 = off (handled by the caller)."""
    s = min(max(smoothing, 0.0), 1.0)
    return 8.0 * (0.02 / 8.0) ** s, 4.0 + 20.0 * s  # 8 Hz .. 0.02 Hz still; faster follow when smoother


@dataclass
class _Track:
    face: Face  # latest raw face (detector's convention)
    filt: OneEuro
    mesh: npt.NDArray[np.float32] | None = None  # latest raw mesh used for tracking
    age: int = 0
    extra: dict[str, object] = field(default_factory=dict)


class TrackedDetector:
    """``FaceDetector`` for live and video: full detection every ``detect_every`` frames, mesh
    tracking in between, temporal smoothing (``smoothing`` 0..1, 0 = off).

    ``fps`` is the nominal frame rate the filter assumes (frames carry no timestamps here).
    """

    def __init__(self, detector: FaceDetector, detect_every: int = 3, smoothing: float = 0.5, *,
                 fps: float = 30.0, tracker: EmbeddedDetector | None = None) -> None:
        self.detector = detector
        self.detect_every = max(1, int(detect_every))
        self.smoothing = float(smoothing)
        self.dt = 1.0 / max(fps, 1.0)
        self._own_mesh = isinstance(detector, EmbeddedDetector)  # it finds the mesh itself
        self._tracker: EmbeddedDetector | None = tracker if tracker is not None else (
            detector if isinstance(detector, EmbeddedDetector) else None)
        self.tracks: list[_Track] = []
        self.frame_index = 0
        self._since_detect = 0
        self._thumb: npt.NDArray[np.float32] | None = None
        self._shape: tuple[int, ...] = ()
        self.last_was_detection = False
        self._round = 0

    @property
    def tracker(self) -> EmbeddedDetector:
        """What tracks the mesh between detections: the detector itself when it is the embedded one."""
        if self._tracker is None:
            self._tracker = EmbeddedDetector(small_faces=False)
        return self._tracker

    def reset(self) -> None:
        """Forget every track (next frame runs a full detection)."""
        self.tracks = []
        self._thumb = None
        self._since_detect = 0

    # -- FaceDetector ------------------------------------------------------------------------
    def detect(self, frame: Frame) -> list[Face]:
        self.frame_index += 1
        cut = self._scene_changed(frame)
        if cut:
            self.tracks = []
        need = not self.tracks or self._since_detect >= self.detect_every - 1 or self.detect_every == 1
        raw: list[Face] | None = None
        lost = False
        if not need:
            raw = self._track(frame)
            lost = need = raw is None  # a face was lost: look again now, everywhere
        if need:
            raw = self._detect(frame, full=lost)
            self._since_detect = 0
            self.last_was_detection = True
        else:
            self._since_detect += 1
            self.last_was_detection = False
        assert raw is not None
        return self._smooth(raw)

    # -- internals ---------------------------------------------------------------------------
    def _scene_changed(self, frame: Frame) -> bool:
        # the thumbnail from a sparse bilinear sample (lowres.shrink): a 1080p frame's full grey conversion
        # and area downscale cost ~1.1 ms CPU per frame, this ~0.01 ms (within ~3 grey levels of it)
        small = cv2.cvtColor(shrink(frame, (32, 18)), cv2.COLOR_BGR2GRAY)
        thumb = small.astype(np.float32)
        prev, self._thumb = self._thumb, thumb
        resized, self._shape = self._shape != frame.shape[:2], frame.shape[:2]
        return prev is not None and (resized or float(np.abs(thumb - prev).mean()) > SCENE_CHANGE)

    def _detect(self, frame: Frame, full: bool = False) -> list[Face]:
        if not full and self._own_mesh and self.tracks:
            return self._redetect(frame)
        faces = self.detector.detect(frame)
        if not self._own_mesh and faces:
            meshed = self.tracker.track_aligned(frame, faces)
            for f, m in zip(faces, meshed, strict=True):
                f.extra["track_mesh"] = None if m is None else m.landmarks
        return faces

    def _redetect(self, frame: Frame) -> list[Face]:
        """Periodic detection while tracking (embedded detector): BlazeFace finds new faces; faces
        already tracked keep their mesh track (one mesh pass instead of two)."""
        det = self.tracker  # the detector itself (``_own_mesh``)
        self._round += 1  # small-face tiles round-robin: a quarter of them per periodic detection
        boxes = det.detect_boxes(frame, part=(self._round, TILE_ROUNDS))
        kept = [f for f in det.track_aligned(frame, [t.face for t in self.tracks]) if f is not None]

        def known(box: npt.NDArray[np.float32]) -> bool:
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            return any(f.bbox[0] <= cx <= f.bbox[2] and f.bbox[1] <= cy <= f.bbox[3] for f in kept)

        fresh = [b for b in boxes if not known(b[0])]
        return kept + (det.faces_from_boxes(frame, fresh) if fresh else [])  # type: ignore[attr-defined]

    def _track(self, frame: Frame) -> list[Face] | None:
        """Mesh-only update of every track; None when any face was lost."""
        prev = [t.face for t in self.tracks]
        if self._own_mesh:
            got = self.tracker.track_aligned(frame, prev)
            return None if any(g is None for g in got) else got
        # another detector's faces: move its points with the mesh's similarity motion
        queries = []
        for t in self.tracks:
            mesh = t.face.extra.get("track_mesh")
            if mesh is None:
                return None
            queries.append(Face(bbox=t.face.bbox, score=t.face.score, kps=t.face.kps, landmarks=mesh))
        got = self.tracker.track_aligned(frame, queries)
        out = []
        for t, q, g in zip(self.tracks, queries, got, strict=True):
            if g is None:
                return None
            m, _ = cv2.estimateAffinePartial2D(q.landmarks, g.landmarks, method=cv2.LMEDS)
            if m is None:
                return None
            kps = (t.face.kps @ m[:, :2].T + m[:, 2]).astype(np.float32)
            x1, y1, x2, y2 = t.face.bbox
            corners = np.float32([[x1, y1], [x2, y2]]) @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)
            bbox = np.float32([*corners.min(0), *corners.max(0)])
            out.append(Face(bbox=bbox, score=t.face.score, kps=kps, embedding=t.face.embedding,
                            extra={**t.face.extra, "track_mesh": g.landmarks}))
        return out

    def _smooth(self, raw: Sequence[Face]) -> list[Face]:
        """Match raw faces to tracks (IoU), filter each, return the smoothed faces."""
        used: set[int] = set()
        new_tracks: list[_Track] = []
        mc, beta = smoothing_params(self.smoothing)
        out: list[Face] = []
        for f in raw:
            best, best_iou = -1, MATCH_IOU
            for i, t in enumerate(self.tracks):
                if i not in used:
                    v = _iou(f.bbox, t.face.bbox)
                    if v > best_iou:
                        best, best_iou = i, v
            if best >= 0:
                used.add(best)
                track = self.tracks[best]
                track.face, track.age = f, track.age + 1
            else:
                track = _Track(face=f, filt=OneEuro(mc, beta))
            track.filt.min_cutoff, track.filt.beta = mc, beta
            new_tracks.append(track)
            out.append(self._with_neutral(track, self._filtered(track) if self.smoothing > 0 else f))
        self.tracks = new_tracks
        return out

    def _with_neutral(self, track: _Track, face: Face) -> Face:
        """``face`` with its track's running neutral mesh (``extra["mesh_neutral"]``, 3-D, in the neutral's
        own pose; ``shape_transfer.update_neutral``): the mean over the first ``NEUTRAL_SECONDS``, then
        an exponential average with that time constant, sampled every ``NEUTRAL_EVERY`` frames. The embedded swap's shape transfer keeps the
        face's expression change from it (a brow raise)."""
        depth = face.extra.get("mesh_z")
        if face.landmarks is None or len(face.landmarks) != 468 or depth is None:
            return face
        from obs_faceswap.vision.shape_transfer import NEUTRAL_SECONDS, mesh3, update_neutral

        neutral = track.extra.get("neutral")
        if neutral is None or track.age % NEUTRAL_EVERY == 0:  # a slow average: every few frames is enough
            samples = track.age // NEUTRAL_EVERY + 1
            weight = max(NEUTRAL_EVERY * self.dt / NEUTRAL_SECONDS, 1.0 / samples)
            neutral = update_neutral(neutral, mesh3(face.landmarks, depth), weight)  # type: ignore[arg-type]
            track.extra["neutral"] = neutral
        return Face(bbox=face.bbox, score=face.score, kps=face.kps, landmarks=face.landmarks,
                    embedding=face.embedding, extra={**face.extra, "mesh_neutral": neutral})

    def _filtered(self, track: _Track) -> Face:
        f = track.face
        parts = [f.kps.astype(np.float64), f.bbox.reshape(2, 2).astype(np.float64)]
        if f.landmarks is not None:
            parts.append(f.landmarks.astype(np.float64))
        depth = f.extra.get("mesh_z")  # the mesh's depth drives the embedded swap's shape transfer: steady it too
        if depth is not None and f.landmarks is not None and len(depth) == len(f.landmarks) and len(depth) % 2 == 0:
            parts.append(np.asarray(depth, np.float64).reshape(-1, 2))
        pts = np.concatenate(parts)
        size = float(track.extra.setdefault("scale", max(float(f.bbox[2] - f.bbox[0]),
                                                          float(f.bbox[3] - f.bbox[1]), 1.0)))
        sm = track.filt(pts / size, self.dt) * size
        kps, box = sm[:5].astype(np.float32), sm[5:7].reshape(4).astype(np.float32)
        n = len(f.landmarks) if f.landmarks is not None else 0
        lm = sm[7:7 + n].astype(np.float32) if f.landmarks is not None else None
        extra = dict(f.extra)
        if len(sm) > 7 + n:
            extra["mesh_z"] = sm[7 + n:].reshape(-1).astype(np.float32)
        if lm is not None and len(lm) == 468:
            from obs_faceswap.vision.embedded import five_points

            kps = five_points(lm)
            lo, hi = lm.min(0), lm.max(0)
            box = np.float32([lo[0], lo[1], hi[0], hi[1]])
        return Face(bbox=box, score=f.score, kps=kps, landmarks=lm, embedding=f.embedding, extra=extra)


def _iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    ix = max(0.0, min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0])))
    iy = max(0.0, min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1])))
    inter = ix * iy
    ua = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / ua if ua > 0 else 0.0
