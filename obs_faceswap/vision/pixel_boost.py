"""Pixel boost: run a swapper at k times its native crop size by polyphase decomposition.

A crop of k·n pixels aligned to the (pixel-centre scaled, see ``align.template_points``) template
is split into k² sub-images of n pixels, sub-image (i, j) holding the pixels ``crop[i::k, j::k]``:
each one is the face sampled on a grid shifted by (j, i)/k native pixels, i.e. an aligned n px
crop the model knows. Each is swapped on its own and the results are interleaved back, so the
output has k·n pixels of detail (every output pixel came from a model pass that saw that exact
position) at k² times the model cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from obs_faceswap.vision.types import Frame


def split(crop: Frame, k: int) -> list[Frame]:
    """The k² polyphase sub-images of ``crop`` (side divisible by ``k``), row phase major."""
    h, w = crop.shape[:2]
    if h % k or w % k:
        raise ValueError(f"a {w}x{h} crop does not split into {k}x{k} sub-images")
    return [np.ascontiguousarray(crop[i::k, j::k]) for i in range(k) for j in range(k)]


def join(parts: list[Frame], k: int) -> Frame:
    """Interleave k² sub-images (as :func:`split` orders them) back into one image."""
    if len(parts) != k * k:
        raise ValueError(f"need {k * k} sub-images, got {len(parts)}")
    h, w = parts[0].shape[:2]
    out = np.empty((h * k, w * k, *parts[0].shape[2:]), dtype=parts[0].dtype)
    for idx, part in enumerate(parts):
        i, j = divmod(idx, k)
        out[i::k, j::k] = part
    return out


def factor(boost: int, native: int) -> int:
    """How many native crops per side ``boost`` asks for: ``boost / native`` rounded (1 = off)."""
    return max(1, int(round(boost / native)))


def boosted(swap: Callable[[Frame], Frame], crop: Frame, k: int) -> Frame:
    """``swap`` (a native-size crop -> swapped crop) applied to each polyphase sub-image of ``crop``."""
    if k <= 1:
        return swap(crop)
    return join([swap(part) for part in split(crop, k)], k)
