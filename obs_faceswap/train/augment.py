"""Training augmentation for face crops (numpy/cv2, driven by a caller's ``numpy.random.Generator``).

- :func:`random_transform`: one random similarity (rotation, scale, shift, optional flip) applied
  alike to the input, the target and the mask, so the model sees faces in varied placements;
- :func:`random_warp`: DeepFaceLab's "random warp", a smooth random grid distortion applied to the
  *input only*: the autoencoder must rebuild the undistorted face, which makes it learn the face
  instead of copying pixels;
- :func:`face_mask`: the training mask of a face from its landmarks (convex hull, feathered);
- colour: :func:`jitter` (brightness/contrast/saturation) and RCT colour transfer toward another
  face (``vision.color.transfer_color``), which teaches the src decoder the dst lighting.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.color import transfer_color
from obs_faceswap.vision.types import Frame, Mask, Points


def random_transform(rng: np.random.Generator, size: int, *, rotation: float = 10.0, scale: float = 0.05,
                     shift: float = 0.05, flip: bool = False) -> npt.NDArray[np.float64]:
    """A 2x3 similarity about the crop centre (degrees, relative scale and shift), maybe mirrored."""
    angle = rng.uniform(-rotation, rotation)
    s = 1.0 + rng.uniform(-scale, scale)
    m = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), angle, s)
    m[:, 2] += rng.uniform(-shift, shift, 2) * size
    if flip and rng.random() < 0.5:
        m = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return m.astype(np.float64)


def apply_transform(img: npt.NDArray[np.generic], m: npt.NDArray[np.float64]) -> npt.NDArray[np.generic]:
    h, w = img.shape[:2]
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def random_warp(rng: np.random.Generator, img: Frame, strength: float = 0.24) -> Frame:
    """Smooth random distortion: a coarse grid (2-8 cells) of offsets, ``strength`` x the cell size,
    upsampled with cubic interpolation into a remap field (borders stay fixed)."""
    size = img.shape[0]
    cells = int(rng.choice([2, 4, 8]))
    cell = size / cells
    grid = rng.normal(0.0, strength * cell, (2, cells + 1, cells + 1)).astype(np.float32)
    grid[:, [0, -1], :] = 0.0
    grid[:, :, [0, -1]] = 0.0
    dx = cv2.resize(grid[0], (size, size), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(grid[1], (size, size), interpolation=cv2.INTER_CUBIC)
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    return cv2.remap(img, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_mask(landmarks: Points, size: int, feather: float = 0.02) -> Mask:
    """(size, size) float mask in [0, 1]: the landmarks' convex hull, edges feathered by ``feather`` x size."""
    m = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1.0)
    k = max(1, int(size * feather)) * 2 + 1
    return cv2.GaussianBlur(m, (k, k), 0)


def jitter(rng: np.random.Generator, img: Frame, amount: float = 0.1) -> Frame:
    """Random brightness, contrast and saturation (each +-``amount``)."""
    x = img.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1.0 + rng.uniform(-amount, amount))  # saturation
    x = (x - x.mean()) * (1.0 + rng.uniform(-amount, amount)) + x.mean()  # contrast
    x = x + rng.uniform(-amount, amount) * 255.0  # brightness
    return np.clip(x, 0, 255).astype(np.uint8)


def color_transfer(img: Frame, ref: Frame, mask: Mask) -> Frame:
    """RCT (Reinhard in LAB, DeepFaceLab's ``ct_mode rct``) of ``img`` toward ``ref``, stats in the mask."""
    return transfer_color(img, ref, "rct", 1.0, mask)
