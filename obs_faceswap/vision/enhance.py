"""Face enhancers (GFPGAN 1.4, CodeFormer, GPEN-BFR): re-align, restore, blend back.

Each model restores an FFHQ-aligned face: the face is warped from its 5 key points onto the
``ffhq_512`` template (scaled to the model's size), run through the model, and the result is
blended back into the image (a frame or a swap crop) under a soft box mask, touching only the
face's region. ``amount`` (the ``enhancer_blend`` setting / 100) scales that blend.

Model I/O (DESIGN.md section 5): ``input`` f32[1,3,S,S] RGB (x/255 - 0.5)/0.5 -> first output,
same layout, clipped to [-1, 1]. CodeFormer also takes ``weight`` f64[1], the fidelity
(0 = strongest restoration, 1 = closest to the input).

Live mode: with ``every`` = k > 1 the model runs on every k-th call per face and, in between,
the last restoration is reused as a *detail residual* (enhanced - input, in aligned space)
added to the current aligned face, so the face keeps its current position and expression.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.models.session import Session
from obs_faceswap.vision.align import face_transform
from obs_faceswap.vision.masks import box_mask
from obs_faceswap.vision.paste import paste_back
from obs_faceswap.vision.types import Frame, Points

# enhancer setting value -> model family (the setting values are also the manifest ids)
ENHANCER_FAMILIES: dict[str, str] = {"gfpgan_1.4": "gfpgan", "codeformer": "codeformer", "gpen_512": "gpen"}
TEMPLATE = "ffhq_512"
DEFAULT_SIZE = 512
# soft edge of the pasted restoration, as in the usual FFHQ enhancer paste: blur 0.3 of the
# crop, a little padding at the bottom where the FFHQ crop reaches the neck/collar
PASTE_BLUR = 0.3
PASTE_PADDING = (0.0, 0.0, 0.05, 0.0)  # top, right, bottom, left (share of the crop)


def load_enhancer(model: str, provider: str = "auto", *, family: str | None = None, fidelity: float = 0.7,
                  every: int = 1) -> FaceEnhancer:
    """Load an enhancer by manifest id (``gfpgan_1.4``, ``codeformer``, ``gpen_512``) or file path.

    ``family`` defaults to the id's family; for a path it must be given. The file's signature
    is checked (``ModelSignatureError`` names what was expected); a missing model raises
    ``ModelError`` saying how to download it.
    """
    from obs_faceswap.models.registry import load_model

    fam = family or ENHANCER_FAMILIES.get(model)
    if fam is None:
        raise ValueError(f"enhancer {model!r}: say which family it is ({', '.join(sorted(set(ENHANCER_FAMILIES.values())))})")
    return FaceEnhancer(load_model(model, fam, provider), fam, fidelity=fidelity, every=every)


@dataclass
class _Cached:
    key: tuple[float, float]
    scale: float  # face size, for matching
    residual: npt.NDArray[np.int16]  # enhanced - aligned input, aligned space
    age: int = 0


class FaceEnhancer:
    """One loaded enhancer model plus its pre/post-processing and the live-mode cache."""

    def __init__(self, session: Session, family: str, *, fidelity: float = 0.7, every: int = 1) -> None:
        if family not in ("gfpgan", "codeformer", "gpen"):
            raise ValueError(f"not an enhancer family: {family!r}")
        self.session = session
        self.family = family
        self.fidelity = float(fidelity)
        self.every = max(1, int(every))
        spec = next(t for t in session.inputs if t.name == "input")
        side = spec.shape[-1]
        self.size = int(side) if isinstance(side, int) and side > 0 else DEFAULT_SIZE
        self.output_name = session.output_names[0]
        self._cache: list[_Cached] = []
        self.model_runs = 0  # how many times the network actually ran (live-mode statistics)

    # ------------------------------------------------------------ the model on an aligned face

    def run(self, aligned: Frame) -> Frame:
        """Restore an FFHQ-aligned ``size`` x ``size`` BGR face; returns BGR uint8 of the same size."""
        if aligned.shape[:2] != (self.size, self.size):
            raise ValueError(f"enhancer input must be {self.size}x{self.size}, got {aligned.shape[1]}x{aligned.shape[0]}")
        x = cv2.cvtColor(aligned, cv2.COLOR_BGR2RGB).astype(np.float32)
        x = x * np.float32(1.0 / 127.5) - np.float32(1.0)  # (x/255 - 0.5) / 0.5
        feeds: dict[str, np.ndarray] = {"input": np.ascontiguousarray(x.transpose(2, 0, 1)[None])}
        if self.family == "codeformer":
            feeds["weight"] = np.array([self.fidelity], dtype=np.float64)
        y = self.session.run(feeds, [self.output_name])[0]
        self.model_runs += 1
        y = np.clip(np.asarray(y, dtype=np.float32)[0], -1.0, 1.0).transpose(1, 2, 0)
        out = cv2.convertScaleAbs(y, alpha=127.5, beta=127.5)  # (y + 1) * 127.5, rounded, saturated
        return cv2.cvtColor(out, cv2.COLOR_RGB2BGR)

    # ------------------------------------------------------------ on a frame or crop

    def align(self, image: Frame, kps: Points) -> tuple[Frame, npt.NDArray[np.float64]]:
        """The face with key points ``kps`` (image coordinates) warped onto the FFHQ template."""
        m = face_transform(kps, TEMPLATE, self.size)
        aligned = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
        return aligned, m

    def enhance(self, image: Frame, kps: Points, amount: float = 1.0, *,
                key: tuple[float, float] | None = None, in_place: bool = False) -> Frame:
        """``image`` with the face at ``kps`` restored and blended back by ``amount`` (0..1).

        ``image`` is a frame or a swap crop (``kps`` in its coordinates). ``key`` (the face's
        position in the frame) identifies the face across calls for the every-k-th-frame cache.
        Returns a new image unless ``in_place``; ``amount`` 0 returns ``image`` itself.
        """
        amount = float(min(max(amount, 0.0), 1.0))
        if amount <= 0.0:
            return image
        aligned, m = self.align(image, kps)
        restored = self._restore(aligned, kps, key)
        out = image if in_place else image.copy()
        mask = box_mask(self.size, PASTE_PADDING, PASTE_BLUR)
        return paste_back(out, restored, m, mask, amount)

    def _restore(self, aligned: Frame, kps: Points, key: tuple[float, float] | None) -> Frame:
        if self.every <= 1 or key is None:
            return self.run(aligned)
        scale = float(np.linalg.norm(np.asarray(kps[1], np.float64) - np.asarray(kps[0], np.float64))) or 1.0
        hit = self._find(key, scale)
        if hit is not None and hit.age < self.every - 1:
            hit.age += 1
            hit.key = key
            out = aligned.astype(np.int16) + hit.residual
            return np.clip(out, 0, 255).astype(np.uint8)
        restored = self.run(aligned)
        residual = restored.astype(np.int16) - aligned.astype(np.int16)
        if hit is not None:
            hit.key, hit.scale, hit.residual, hit.age = key, scale, residual, 0
        else:
            self._cache.append(_Cached(key, scale, residual))
            del self._cache[:-8]  # a handful of faces at most
        return restored

    def _find(self, key: tuple[float, float], scale: float) -> _Cached | None:
        best, best_d = None, float("inf")
        for c in self._cache:
            d = float(np.hypot(c.key[0] - key[0], c.key[1] - key[1]))
            if d < best_d and d < 1.5 * max(scale, c.scale):
                best, best_d = c, d
        return best

    def clone(self) -> FaceEnhancer:
        """The same model and settings with its own live-mode cache (changing one leaves the other)."""
        twin = copy.copy(self)
        twin._cache = list(self._cache)
        return twin

    def reset(self) -> None:
        """Forget the live-mode cache (scene cut, new source)."""
        self._cache.clear()
