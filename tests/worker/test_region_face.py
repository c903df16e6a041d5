"""The face pipeline on region frames (issue 19): faces tracked on the downscaled whole frame, swapped
on the full-resolution crop, and the next region follows the face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from obs_faceswap.ipc.regions import Rect, next_region, small_size
from obs_faceswap.worker.processors import FaceProcessor

W, H = 1920, 1080


def _frame(astronaut_bgr: np.ndarray, dx: int) -> np.ndarray:
    a = cv2.resize(astronaut_bgr, (H, H), interpolation=cv2.INTER_CUBIC)
    frame = np.full((H, W, 3), 90, np.uint8)
    x = (W - H) // 2 + dx
    frame[:, x:x + H] = a
    return frame


def test_face_is_tracked_on_the_small_frame_and_swapped_on_the_crop(astronaut_bgr: np.ndarray,
                                                                    group_photo_path: Path) -> None:
    proc = FaceProcessor({"source_image": str(group_photo_path), "swapper": "embedded"})
    frame = _frame(astronaut_bgr, 0)
    sw, sh = small_size(W, H)
    small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    # first frame: no crop yet, the worker only says where the face is
    out, boxes = proc.process_region(small, None, (0, 0), (W, H))
    assert out is None and len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert 700 < x0 < x1 < 1100 and 50 < y0 < y1 < 500  # the astronaut's face, in frame pixels
    region = next_region(boxes, W, H)
    assert region.contains(Rect(int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
    crop = frame[region.y:region.y + region.h, region.x:region.x + region.w].copy()
    out, boxes = proc.process_region(small, crop, (region.x, region.y), (W, H))
    assert out is not None and out.shape == crop.shape
    changed = np.any(out != crop, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed[int(y0 - region.y):int(y1 - region.y), int(x0 - region.x):int(x1 - region.x)].mean() > 0.3
    # the swap (face, jaw line, hair line) stays inside the crop with room to spare
    assert xs.min() > 8 and ys.min() > 8 and xs.max() < region.w - 8 and ys.max() < region.h - 8
    # the face moves 60 px right: the next region follows it and keeps its size
    moved = _frame(astronaut_bgr, 60)
    small = cv2.resize(moved, (sw, sh), interpolation=cv2.INTER_AREA)
    for _ in range(3):  # a few frames: the track's smoothing catches up
        _, boxes = proc.process_region(small, None, (0, 0), (W, H))
    follow = next_region(boxes, W, H, region)
    assert (follow.w, follow.h) == (region.w, region.h) and 40 <= follow.x - region.x <= 80
