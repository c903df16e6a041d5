"""Torch helpers every trainer shares: SSIM/DSSIM, checkpoints with resume, preview grids,
loss logs (CSV + PNG plot), device / mixed precision, and the stop rule (``--max-steps/--minutes``).

Images inside trainers are float tensors NCHW in [0, 1]; previews and plots are BGR uint8 arrays
written with :func:`obs_faceswap.media.write_image` (atomic). Checkpoints are written atomically
too, so an interrupted save never replaces a good checkpoint with half a file.
"""

from __future__ import annotations

import csv
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.media import atomic_output, write_image

# ---------------------------------------------------------------- SSIM / DSSIM


def gaussian_window(size: int = 11, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps (SSIM's usual 11 taps, sigma 1.5)."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5,
             data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM of two NCHW batches (Wang et al. 2004: Gaussian window, K1 0.01, K2 0.03,
    population covariance; 'valid' filtering, so the map is (H-window+1) x (W-window+1))."""
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two NCHW tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    c = a.shape[1]
    g = gaussian_window(window, sigma, a.device).to(a.dtype)
    gx = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    gy = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, gx, groups=c), gy, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM over the batch (a scalar tensor with gradient); 1 means identical."""
    return ssim_map(a, b, window, sigma, data_range).mean()


def dssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0) -> torch.Tensor:
    """Structural dissimilarity ``(1 - SSIM) / 2`` in [0, 1]; 0 means identical (DeepFaceLab's loss
    uses it with a window of about a tenth of the resolution)."""
    return (1.0 - ssim(a, b, window, sigma, data_range)) / 2.0


# ---------------------------------------------------------------- device, seeds, stop rule


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` = CUDA when present, else CPU; ``cpu`` / ``cuda`` / ``cuda:N`` as asked (a clear error
    when CUDA is asked for and missing)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise FaceSwapError(f"--device {requested}: this torch has no CUDA device; use --device cpu")
    try:
        return torch.device(requested)
    except RuntimeError:
        raise FaceSwapError(f"--device {requested}: unknown device; use auto, cpu or cuda[:N]") from None


def autocast(device: torch.device, enabled: bool = True) -> torch.autocast:
    """Mixed precision (float16) on CUDA; a no-op context on CPU (bfloat16 there is slower here)."""
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=enabled and device.type == "cuda")


def grad_scaler(device: torch.device, enabled: bool = True) -> torch.amp.GradScaler:
    """Loss scaler for float16 training; disabled (pass-through) on CPU."""
    return torch.amp.GradScaler(device.type, enabled=enabled and device.type == "cuda")


def optimise(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
             losses: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """One optimiser step on ``losses["loss"]`` (scaled for mixed precision); the losses as floats."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(losses["loss"]).backward()
    scaler.step(opt)
    scaler.update()
    return {k: float(v.detach()) for k, v in losses.items()}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's legacy global and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class StopRule:
    """When to stop: after ``max_steps`` (total, counted across resumes) and/or ``minutes`` of this
    session's wall time; at least one must be given."""

    max_steps: int | None = None
    minutes: float | None = None
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.max_steps is None and self.minutes is None:
            raise FaceSwapError("give --max-steps N and/or --minutes M: training needs a stopping point")
        if self.max_steps is not None and self.max_steps < 0:
            raise FaceSwapError("--max-steps must be 0 or more")
        if self.minutes is not None and self.minutes <= 0:
            raise FaceSwapError("--minutes must be more than 0")

    def done(self, step: int) -> bool:
        if self.max_steps is not None and step >= self.max_steps:
            return True
        return self.minutes is not None and time.monotonic() - self.started >= self.minutes * 60.0


# ---------------------------------------------------------------- checkpoints


def rng_state() -> dict[str, Any]:
    """Every global random state a trainer draws from (Python, NumPy legacy, torch CPU/CUDA)."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], *, step: int, modules: Mapping[str, torch.nn.Module],
                    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                    config: Mapping[str, Any] | None = None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write models, optimisers, the step, the trainer's config and every random state to ``path``
    atomically; :func:`load_checkpoint` + :func:`restore_checkpoint` continue the same curve."""
    blob = {
        "format": 1,
        "step": int(step),
        "modules": {k: m.state_dict() for k, m in modules.items()},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "config": dict(config or {}),
        "extra": dict(extra or {}),
        "rng": rng_state(),
    }
    dest = Path(path)
    with atomic_output(dest) as tmp:
        torch.save(blob, tmp)
    return dest


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a clear one-line error otherwise."""
    p = Path(path)
    try:
        blob = torch.load(p, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise FaceSwapError(f"no checkpoint at {p}") from None
    except Exception as exc:  # torch raises many kinds for a damaged file
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise FaceSwapError(f"cannot read the checkpoint {p}: {first}") from None
    if not isinstance(blob, dict) or blob.get("format") != 1 or "modules" not in blob:
        raise FaceSwapError(f"{p} is not an obs-faceswap training checkpoint")
    return blob


def restore_checkpoint(blob: Mapping[str, Any], *, modules: Mapping[str, torch.nn.Module],
                       optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                       restore_rng: bool = True) -> int:
    """Load states from a checkpoint into ``modules`` / ``optimizers``; return the step it was at."""
    for name, module in modules.items():
        if name not in blob["modules"]:
            raise FaceSwapError(f"the checkpoint has no '{name}' model; it was written by another trainer")
        try:
            module.load_state_dict(blob["modules"][name])
        except RuntimeError as exc:
            raise FaceSwapError(f"the checkpoint's '{name}' does not fit this model (other settings?): "
                                f"{str(exc).splitlines()[0][:160]}") from None
    for name, opt in (optimizers or {}).items():
        if name in blob["optimizers"]:
            opt.load_state_dict(blob["optimizers"][name])
    if restore_rng:
        set_rng_state(blob["rng"])
    return int(blob["step"])


# ---------------------------------------------------------------- images: tensors, preview grid


Image = npt.NDArray[np.uint8]


def to_image(t: torch.Tensor) -> Image:
    """One CHW (or 1CHW) float tensor in [0, 1], channels BGR (or 1 for masks), to HWC BGR uint8."""
    x = t.detach().float()
    if x.dim() == 4:
        x = x[0]
    x = (x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return np.ascontiguousarray(x)


def from_images(images: npt.NDArray[np.uint8] | Sequence[Image], device: torch.device | str = "cpu") -> torch.Tensor:
    """NHWC uint8 BGR images to an NCHW float tensor in [0, 1]."""
    arr = np.stack(list(images)) if not isinstance(images, np.ndarray) else images
    return torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def preview_grid(rows: Sequence[Sequence[Image | torch.Tensor]], labels: Sequence[str] | None = None,
                 cell: int | None = None, gap: int = 2) -> Image:
    """Tile images into one BGR picture: ``rows[r][c]`` is row r, column c (tensors are converted
    with :func:`to_image`; every cell is resized to ``cell`` px, default: the first image's height).
    ``labels`` name the columns in a strip on top."""
    if not rows or not rows[0]:
        raise ValueError("preview_grid needs at least one image")
    cells = [[to_image(x) if isinstance(x, torch.Tensor) else x for x in row] for row in rows]
    size = cell or cells[0][0].shape[0]
    ncol = max(len(r) for r in cells)
    top = 22 if labels else 0
    h = top + len(cells) * (size + gap) + gap
    w = ncol * (size + gap) + gap
    out = np.full((h, w, 3), 32, np.uint8)
    for r, row in enumerate(cells):
        for c, img in enumerate(row):
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR)
            y, x = top + gap + r * (size + gap), gap + c * (size + gap)
            out[y:y + size, x:x + size] = img
    for c, text in enumerate(labels or []):
        x = gap + c * (size + gap) + 3
        cv2.putText(out, text[: max(1, size // 8)], (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
    return out


def write_preview(path: str | os.PathLike[str], rows: Sequence[Sequence[Image | torch.Tensor]],
                  labels: Sequence[str] | None = None, cell: int | None = None) -> Path:
    """:func:`preview_grid` written atomically to ``path`` (PNG/JPG by suffix)."""
    return write_image(path, preview_grid(rows, labels, cell))


# ---------------------------------------------------------------- loss log: CSV + PNG plot


class LossLog:
    """Loss rows (``step`` + named floats) kept in ``csv_path``; :meth:`plot` draws them to a PNG.

    Opening an existing log keeps only the rows up to ``resume_step`` (the checkpoint's step), so a
    resumed run that had logged past its last checkpoint continues one clean curve.
    """

    def __init__(self, csv_path: str | os.PathLike[str], fields: Sequence[str], resume_step: int | None = None) -> None:
        self.path = Path(csv_path)
        self.fields = ("step", *[f for f in fields if f != "step"])
        self.rows: list[dict[str, float]] = []
        if resume_step is not None and self.path.exists():
            self.rows = [r for r in read_losses(self.path) if r["step"] <= resume_step]

    def add(self, step: int, **values: float) -> None:
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown loss fields {sorted(unknown)}; this log has {self.fields}")
        self.rows.append({"step": float(step), **{k: float(v) for k, v in values.items()}})

    def write(self) -> Path:
        with atomic_output(self.path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, fieldnames=self.fields)
                w.writeheader()
                for r in self.rows:
                    w.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in r.items()})
        return self.path

    def plot(self, png_path: str | os.PathLike[str], keys: Sequence[str] | None = None) -> Path:
        return write_image(png_path, plot_losses(self.rows, keys or [f for f in self.fields if f != "step"]))


def read_losses(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Rows of a loss CSV as floats (empty cells skipped)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(fh)]


_COLOURS = [(66, 135, 245), (60, 180, 75), (48, 48, 230), (200, 130, 0), (180, 30, 145), (0, 190, 190)]


def plot_losses(rows: Sequence[Mapping[str, float]], keys: Sequence[str], size: tuple[int, int] = (640, 360)) -> Image:
    """A line chart (BGR uint8) of ``keys`` against ``step``, log-scaled y, one colour per key with a
    legend; drawn with OpenCV so training needs no plotting library."""
    w, h = size
    left, right, top, bottom = 64, 12, 12, 28
    img = np.full((h, w, 3), 255, np.uint8)
    pts = [(r["step"], r[k], i) for r in rows for i, k in enumerate(keys) if k in r and r[k] > 0 and np.isfinite(r[k])]
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (160, 160, 160), 1)
    if not pts:
        cv2.putText(img, "no losses yet", (left + 10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        return img
    steps = np.array([p[0] for p in pts])
    logs = np.log10(np.array([p[1] for p in pts]))
    s0, s1 = steps.min(), max(steps.max(), steps.min() + 1)
    y0, y1 = logs.min(), max(logs.max(), logs.min() + 1e-3)

    def xy(step: float, value: float) -> tuple[int, int]:
        x = left + (step - s0) / (s1 - s0) * (w - left - right)
        y = h - bottom - (np.log10(value) - y0) / (y1 - y0) * (h - top - bottom)
        return int(round(x)), int(round(y))

    for frac in (0.0, 0.5, 1.0):
        v = 10 ** (y0 + frac * (y1 - y0))
        y = xy(s0, v)[1]
        cv2.putText(img, f"{v:.3g}", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, f"step {int(s0)}", (left, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(img, f"{int(s1)}", (w - right - 50, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    for i, k in enumerate(keys):
        line = np.array([xy(r["step"], r[k]) for r in rows if k in r and r[k] > 0 and np.isfinite(r[k])], np.int32)
        colour = _COLOURS[i % len(_COLOURS)]
        if len(line) > 1:
            cv2.polylines(img, [line.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        elif len(line) == 1:
            cv2.circle(img, tuple(int(v) for v in line[0]), 3, colour, -1)
        cv2.putText(img, k, (w - right - 110, top + 16 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    return img
