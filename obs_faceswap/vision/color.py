"""Colour transfer: move a swapped face's colour statistics toward the camera's.

One entry point, :func:`transfer_color`, with the methods offered in the settings
(``COLOR_METHODS``): ``none``, ``lab`` (Reinhard mean/std in LAB), and the DeepFaceLab family
``rct``, ``lct``, ``mkl``, ``idt``, ``sot`` and ``hist``. Statistics are taken inside an optional
mask (pixels with weight > 0.5) and the resulting transform is applied to the whole image, so a
crop's border follows its centre. ``strength`` blends the result linearly with the input.

All methods are vectorised numpy/cv2 in float32; the random ones (``idt``, ``sot``) are seeded,
so the same input always gives the same output (no flicker on a still frame).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from obs_faceswap.vision.types import Frame, Mask

F32 = npt.NDArray[np.float32]

METHODS: tuple[str, ...] = ("none", "lab", "rct", "lct", "mkl", "idt", "sot", "hist")

_EPS = 1e-6
_MIN_PIXELS = 16  # fewer masked pixels than this: fall back to the whole image


def transfer_color(src: Frame, ref: Frame, method: str, strength: float, mask: Mask | None = None, *,
                   gain_limits: tuple[npt.ArrayLike, npt.ArrayLike] | None = None) -> Frame:
    """Return ``src`` with its colours moved toward ``ref``'s.

    ``src`` and ``ref`` are uint8 BGR images of the same size; ``mask`` (H, W) float in [0, 1]
    selects the pixels whose statistics count (weight > 0.5) in both images. ``strength`` 0..1
    blends linearly between ``src`` (0) and the full transfer (1). ``method`` is one of
    :data:`METHODS`; an unknown name raises ``ValueError``. ``gain_limits`` = (low, high), each a
    number or one per LAB channel (``lab``/``rct`` only), bounds the spread gain sd_ref/sd_src: a
    caller that transfers the lighting itself (the classical swapper) keeps the source's own
    contrast, and a wide reference spread (hair, make-up, strong light in the statistics) cannot
    blow a pale highlight up into a cyan patch or a pink nose into a red one.
    """
    fn = _METHODS.get(method)
    if fn is None:
        raise ValueError(f"unknown colour method {method!r}; use one of {', '.join(METHODS)}")
    if src.shape != ref.shape:
        raise ValueError(f"colour transfer needs images of the same size, got {src.shape} and {ref.shape}")
    strength = float(min(max(strength, 0.0), 1.0))
    if method == "none" or strength <= 0.0 or src.size == 0:
        return src
    sel = _selection(mask, src.shape[:2])
    if gain_limits is not None and method in ("lab", "rct"):
        out = _reinhard(src, ref, sel, clip=method == "rct", gain_limits=gain_limits)
    else:
        out = fn(src, ref, sel)
    if strength < 1.0:
        out = cv2.addWeighted(out, strength, src, 1.0 - strength, 0.0)
    return out


# ---------------------------------------------------------------- helpers

Sel = npt.NDArray[np.uint8]  # (H, W) 0/1 selection for cv2's mask arguments


def _selection(mask: Mask | None, shape: tuple[int, ...]) -> Sel | None:
    """uint8 0/1 pixel selection from the mask, or None for 'every pixel'."""
    if mask is None:
        return None
    if mask.shape[:2] != tuple(shape):
        raise ValueError(f"colour mask has shape {mask.shape[:2]}, image has {tuple(shape)}")
    m = mask.reshape(shape) if mask.ndim == 3 else mask
    sel = (m > 0.5).view(np.uint8)
    if cv2.countNonZero(sel) < _MIN_PIXELS:
        return None
    return sel


def _mean_std(img: F32, sel: Sel | None) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    mu, sd = cv2.meanStdDev(img, mask=sel)
    return mu.ravel(), sd.ravel()


def _mean_cov(img: F32, sel: Sel | None) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean (3,) and covariance (3, 3) of the selected pixels (float64 results)."""
    p = _pixels(img, sel)
    mu = p.mean(0, dtype=np.float64) if len(p) < 4096 else cv2.meanStdDev(img, mask=sel)[0].ravel()
    d = p - mu.astype(np.float32)
    c = (d.T @ d).astype(np.float64) / max(len(p) - 1, 1)
    return mu, c + np.eye(3) * 1e-5


def _pixels(img: F32, sel: Sel | None) -> F32:
    """(N, 3) float32 pixels, inside ``sel`` when given."""
    flat = img.reshape(-1, 3)
    return flat if sel is None else flat[np.flatnonzero(sel)]


def _to_u8(img: F32) -> Frame:
    """float BGR in [0, 1] -> uint8 (rounded, saturated)."""
    return cv2.convertScaleAbs(img, alpha=255.0) if img.min() >= 0 else _clip_u8(img)


def _clip_u8(img: F32) -> Frame:
    return np.clip(img * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)


def _bgr_f32(img: Frame) -> F32:
    return img.astype(np.float32) * np.float32(1.0 / 255.0)


def _lab(img: Frame) -> F32:
    return cv2.cvtColor(_bgr_f32(img), cv2.COLOR_BGR2LAB)


def _from_lab(lab: F32) -> Frame:
    return _to_u8(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))


def _affine(img: F32, matrix: npt.ArrayLike, offset: npt.ArrayLike) -> F32:
    """x @ matrix.T + offset for every pixel, via cv2.transform."""
    m = np.concatenate([np.asarray(matrix, np.float32), np.asarray(offset, np.float32).reshape(3, 1)], axis=1)
    return cv2.transform(img, m)


# ---------------------------------------------------------------- methods


def _none(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    return src


def _reinhard(src: Frame, ref: Frame, sel: Sel | None, *, clip: bool,
              gain_limits: tuple[npt.ArrayLike, npt.ArrayLike] | None = None) -> Frame:
    s, r = _lab(src), _lab(ref)
    mu_s, sd_s = _mean_std(s, sel)
    mu_r, sd_r = _mean_std(r, sel)
    gain = sd_r / np.maximum(sd_s, _EPS)
    if gain_limits is not None:
        gain = np.clip(gain, np.asarray(gain_limits[0], np.float64), np.asarray(gain_limits[1], np.float64))
    out = _affine(s, np.diag(gain), mu_r - mu_s * gain)
    if clip:
        out = np.clip(out, np.float32([0.0, -127.0, -127.0]), np.float32([100.0, 127.0, 127.0]))
    return _from_lab(out)


def _lab_reinhard(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Reinhard et al. 2001 in OpenCV's float LAB: per channel (x - mu_s) * sd_r / sd_s + mu_r."""
    return _reinhard(src, ref, sel, clip=False)


def _rct(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """DeepFaceLab's RCT: the same Reinhard transfer, with L clipped to [0, 100] and a/b to
    [-127, 127] before going back to BGR, so out-of-gamut results saturate per LAB channel instead
    of per BGR channel (no hue shifts in blown-out highlights)."""
    return _reinhard(src, ref, sel, clip=True)


def _sqrtm(c: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Symmetric square root and inverse square root of a symmetric positive definite matrix."""
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, 1e-8)
    return (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T


def _lct(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Linear colour transfer with the symmetric (PCA) square roots of the colour covariances:
    x' = C_r^1/2 C_s^-1/2 (x - mu_s) + mu_r, which matches mean and covariance exactly."""
    s, r = _bgr_f32(src), _bgr_f32(ref)
    mu_s, cs = _mean_cov(s, sel)
    mu_r, cr = _mean_cov(r, sel)
    _, s_inv = _sqrtm(cs)
    r_half, _ = _sqrtm(cr)
    a = r_half @ s_inv
    return _to_u8(_affine(s, a, mu_r - a @ mu_s))


def _mkl(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Monge-Kantorovitch linear transfer (Pitie & Kokaram 2007), the optimal-transport map between
    two Gaussians: T = C_s^-1/2 (C_s^1/2 C_r C_s^1/2)^1/2 C_s^-1/2, x' = T (x - mu_s) + mu_r."""
    s, r = _bgr_f32(src), _bgr_f32(ref)
    mu_s, cs = _mean_cov(s, sel)
    mu_r, cr = _mean_cov(r, sel)
    s_half, s_inv = _sqrtm(cs)
    mid, _ = _sqrtm(s_half @ cr @ s_half)
    t = s_inv @ mid @ s_inv
    return _to_u8(_affine(s, t, mu_r - t @ mu_s))


def _rotations(count: int, seed: int) -> list[npt.NDArray[np.float32]]:
    """``count`` random 3x3 orthonormal bases (the first is the identity), seeded."""
    rng = np.random.default_rng(seed)
    out = [np.eye(3, dtype=np.float32)]
    while len(out) < count:
        q, rr = np.linalg.qr(rng.standard_normal((3, 3)))
        out.append((q * np.sign(np.diag(rr))).astype(np.float32))
    return out


_ROTATIONS_IDT = _rotations(5, seed=1234)
_ROTATIONS_SOT = _rotations(6, seed=4321)
_SOT_STEP = 0.75  # relaxation of each sliced step (the last step is always a full one)
_QUANTILES = np.linspace(0.0, 1.0, 65)
_LUT_SIZE = 256
_SUBSAMPLE = 8192  # pixels of each image whose 1-D distributions are matched


def _samples(img: F32, sel: Sel | None) -> F32:
    """Up to ``_SUBSAMPLE`` selected pixels (evenly strided, deterministic), shape (N, 1, 3)."""
    idx = np.arange(img.shape[0] * img.shape[1]) if sel is None else np.flatnonzero(sel)
    if len(idx) > _SUBSAMPLE:
        idx = idx[(np.arange(_SUBSAMPLE) * (len(idx) / _SUBSAMPLE)).astype(np.int64)]
    return np.ascontiguousarray(img.reshape(-1, 3)[idx].reshape(-1, 1, 3))


def _transport_1d(planes: list[F32], xs: F32, xr: F32) -> list[F32]:
    """Apply the monotone 1-D map that sends the distribution of ``xs`` onto ``xr``'s to every plane.

    The map is piecewise linear between matching quantiles; it is tabulated on a uniform grid and
    applied with ``cv2.remap`` as a 1-D lookup (values beyond the source's range are clamped).
    """
    qs = np.quantile(xs, _QUANTILES)
    qr = np.quantile(xr, _QUANTILES)
    qs = qs + np.arange(len(qs)) * 1e-7  # strictly increasing for interp
    lo = min(float(qs[0]), *(cv2.minMaxLoc(p)[0] for p in planes))
    hi = max(float(qs[-1]), *(cv2.minMaxLoc(p)[1] for p in planes))
    grid = np.linspace(lo, hi, _LUT_SIZE)
    lut = np.interp(grid, qs, qr).astype(np.float32).reshape(1, -1)
    scale = (_LUT_SIZE - 1) / max(hi - lo, 1e-12)
    out = []
    for p in planes:
        mapx = (p - np.float32(lo)) * np.float32(scale)
        out.append(cv2.remap(lut, mapx, np.zeros_like(mapx), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return out


def _rotated_transfer(src: Frame, ref: Frame, sel: Sel | None, rotations: list[npt.NDArray[np.float32]],
                      step: float) -> Frame:
    """Shared loop of idt and sot: per orthonormal basis, project, transport each 1-D marginal, move
    the colours by ``step`` of that displacement (1 = full), rotate back."""
    s = _bgr_f32(src)
    ps, pr = _samples(s, sel), _samples(_bgr_f32(ref), sel)
    for i, rot in enumerate(rotations):
        srot, psrot, prrot = cv2.transform(s, rot), cv2.transform(ps, rot), cv2.transform(pr, rot)
        s_planes, ps_planes, pr_planes = list(cv2.split(srot)), list(cv2.split(psrot)), cv2.split(prrot)
        a = 1.0 if i == len(rotations) - 1 else step
        for k in range(3):
            new_s, new_ps = _transport_1d([s_planes[k], ps_planes[k]], ps_planes[k], pr_planes[k])
            if a < 1.0:
                new_s = cv2.addWeighted(new_s, a, s_planes[k], 1.0 - a, 0.0)
                new_ps = cv2.addWeighted(new_ps, a, ps_planes[k], 1.0 - a, 0.0)
            s_planes[k], ps_planes[k] = new_s, new_ps
        back = np.ascontiguousarray(rot.T)
        s = cv2.transform(cv2.merge(s_planes), back)
        ps = cv2.transform(cv2.merge(ps_planes), back)
    return _to_u8(s)


def _idt(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Iterative distribution transfer (Pitie et al. 2005): for a few seeded random rotations of the
    colour space, match the three 1-D marginals fully, then rotate back."""
    return _rotated_transfer(src, ref, sel, _ROTATIONS_IDT, 1.0)


def _sot(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Sliced optimal transport (Rabin et al. 2011): along seeded random orthonormal slices, move the
    colours a relaxed step toward their sorted (quantile) partners, for a few iterations."""
    return _rotated_transfer(src, ref, sel, _ROTATIONS_SOT, _SOT_STEP)


def _hist(src: Frame, ref: Frame, sel: Sel | None) -> Frame:
    """Per-channel histogram matching of the 8-bit BGR values through a 256-entry lookup table."""
    levels = np.arange(256, dtype=np.float64)
    luts = []
    for c in range(3):
        hs = cv2.calcHist([src], [c], sel, [256], [0, 256]).ravel().astype(np.float64)
        hr = cv2.calcHist([ref], [c], sel, [256], [0, 256]).ravel().astype(np.float64)
        hs /= max(hs.sum(), 1.0)
        hr /= max(hr.sum(), 1.0)
        cs_mid = np.cumsum(hs) - hs / 2.0  # CDF at the centre of each source level
        cr_mid = np.cumsum(hr) - hr / 2.0
        keep = hr > 0
        lut = np.interp(cs_mid, cr_mid[keep], levels[keep]) if keep.any() else levels
        luts.append(np.clip(lut + 0.5, 0, 255).astype(np.uint8))
    return cv2.LUT(src, np.stack(luts, axis=1).reshape(256, 1, 3))


_METHODS: dict[str, Callable[[Frame, Frame, Sel | None], Frame]] = {
    "none": _none,
    "lab": _lab_reinhard,
    "rct": _rct,
    "lct": _lct,
    "mkl": _mkl,
    "idt": _idt,
    "sot": _sot,
    "hist": _hist,
}
