"""The photo the benches run on, shipped with the package so every bench runs on the default install:
scikit-image's astronaut (Eileen Collins, NASA, public domain), 512x512, stored as JPEG."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ASTRONAUT = Path(__file__).with_name("astronaut.jpg")
# the face's five key points in the 512x512 photo (eyes, nose, mouth corners)
ASTRONAUT_KPS = np.array([[202, 101], [246, 103], [225, 125], [207, 146], [243, 147]], np.float32)


def astronaut_bgr() -> np.ndarray:
    img = cv2.imread(str(ASTRONAUT))
    if img is None:
        raise FileNotFoundError(f"the bench photo is missing: {ASTRONAUT} (reinstall obs-faceswap)")
    return img


def astronaut_frame(width: int = 1280, height: int = 720, face_px: int = 720) -> tuple[np.ndarray, np.ndarray]:
    """A grey ``width`` x ``height`` frame with the astronaut photo scaled to ``face_px`` square in the
    middle; also its key points in frame coordinates."""
    frame = np.full((height, width, 3), 90, np.uint8)
    x0, y0 = (width - face_px) // 2, (height - face_px) // 2
    photo = cv2.resize(astronaut_bgr(), (face_px, face_px), interpolation=cv2.INTER_LINEAR)
    sx0, sy0 = max(0, -x0), max(0, -y0)
    dx0, dy0 = max(0, x0), max(0, y0)
    w, h = min(face_px - sx0, width - dx0), min(face_px - sy0, height - dy0)
    frame[dy0:dy0 + h, dx0:dx0 + w] = photo[sy0:sy0 + h, sx0:sx0 + w]
    kps = ASTRONAUT_KPS * (face_px / 512) + [x0, y0]
    return frame, kps.astype(np.float32)
