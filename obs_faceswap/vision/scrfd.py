"""SCRFD face detector (insightface det_10g and its siblings): pre-processing and decoding.

The model takes ``input.1`` float32 [1, 3, H, W] RGB normalised as (x - 127.5) / 128 and
returns 9 tensors: scores for strides 8, 16, 32 ([N, 1] each), then box distances ([N, 4])
and key-point offsets ([N, 10]) in the same stride order. Every grid cell holds 2 anchors
centred at (col, row) * stride; box = centre -/+ distance * stride, key point = centre +
offset * stride. The frame is letterboxed into the top-left corner of a 640 x 640 input.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.models.session import Session
from obs_faceswap.models.signatures import family_signature
from obs_faceswap.vision.types import Face, Frame

STRIDES: tuple[int, ...] = (8, 16, 32)
ANCHORS_PER_CELL = 2
INPUT_SIZE = 640

INPUTS, OUTPUTS = family_signature("scrfd")  # the one table: models/signatures.py

F32 = npt.NDArray[np.float32]


def letterbox(frame: Frame, size: int = INPUT_SIZE) -> tuple[F32, float]:
    """Scale ``frame`` to fit ``size`` x ``size`` (top-left, zero padding); return blob and scale."""
    h, w = frame.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else frame
    blob = cv2.dnn.blobFromImage(canvas, 1.0 / 128.0, (size, size), (127.5, 127.5, 127.5), swapRB=True)
    return blob, nh / h


_CENTRES: dict[tuple[int, int, int], F32] = {}


def anchor_centres(height: int, width: int, stride: int) -> F32:
    """(rows*cols*2, 2) anchor centres in input pixels, 2 anchors per cell, row-major."""
    key = (height, width, stride)
    got = _CENTRES.get(key)
    if got is None:
        ys, xs = np.mgrid[:height, :width]
        cells = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
        got = np.repeat(cells, ANCHORS_PER_CELL, axis=0)
        _CENTRES[key] = got
    return got


def nms(boxes: F32, scores: F32, threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices of kept boxes, best first."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= threshold]
    return keep


def decode(
    outputs: list[Any], input_size: int = INPUT_SIZE, scale: float = 1.0,
    score_threshold: float = 0.5, nms_threshold: float = 0.4,
) -> list[Face]:
    """Turn the 9 raw SCRFD outputs into faces in frame pixels (divide by the letterbox ``scale``)."""
    n = len(STRIDES)
    all_scores, all_boxes, all_kps = [], [], []
    for i, stride in enumerate(STRIDES):
        scores = np.asarray(outputs[i]).reshape(-1)
        dist = np.asarray(outputs[i + n]).reshape(-1, 4) * stride
        offs = np.asarray(outputs[i + 2 * n]).reshape(-1, 10) * stride
        side = input_size // stride
        centres = anchor_centres(side, side, stride)
        if len(centres) != len(scores):
            raise ValueError(f"SCRFD stride {stride}: {len(scores)} scores for {len(centres)} anchors")
        hit = np.nonzero(scores >= score_threshold)[0]
        if hit.size == 0:
            continue
        c = centres[hit]
        d = dist[hit]
        boxes = np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1)
        kps = offs[hit].reshape(-1, 5, 2) + c[:, None, :]
        all_scores.append(scores[hit])
        all_boxes.append(boxes)
        all_kps.append(kps)
    if not all_scores:
        return []
    scores = np.concatenate(all_scores).astype(np.float32)
    boxes = (np.concatenate(all_boxes) / scale).astype(np.float32)
    kps = (np.concatenate(all_kps) / scale).astype(np.float32)
    keep = nms(boxes, scores, nms_threshold)
    return [Face(bbox=boxes[i].copy(), score=float(scores[i]), kps=kps[i].copy()) for i in keep]


class ScrfdDetector:
    """``FaceDetector`` over an SCRFD ONNX session."""

    name = "scrfd"

    def __init__(self, session: Session, *, score_threshold: float = 0.5, nms_threshold: float = 0.4) -> None:
        self.session = session
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._input = session.input_names[0]

    def sessions(self) -> list[Session]:
        return [self.session]

    def detect(self, frame: Frame) -> list[Face]:
        blob, scale = letterbox(frame)
        outs = self.session.run({self._input: blob})
        return decode(outs, INPUT_SIZE, scale, self.score_threshold, self.nms_threshold)
