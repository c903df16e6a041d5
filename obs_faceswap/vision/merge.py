"""The merge stage: where every swapped face meets the frame.

:func:`merge_face` takes one :class:`~obs_faceswap.vision.record.FaceRecord` (from any swapper,
after the quality stages) and owns, in this order:

1. mask combination: the record's masks by element-wise minimum (each one can only take
   pixels away from the swap);
2. detail matching (``colour.match_detail``) and colour transfer (``color_method`` /
   ``color_strength``, statistics over ``colour.mask`` or the combined mask, gain bounded by
   ``colour.gain_limits``), then the target's lighting (``colour.relight``);
3. ``blend`` and the ROI-only paste (``paste.paste_back``), optionally through Poisson
   blending (``seamless``).

:func:`swap_all` is the per-face loop that every caller uses (the pipeline, the bench, the
tests): swap step -> model masks -> merge per face, then the enhancer on each pasted face in the frame
(at the enhancer's own resolution: a 512 px restoration keeps its detail even when the swap
crop was 128 px, and its FFHQ window sees real frame pixels, not a crop's replicated border).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from obs_faceswap.vision.color import transfer_color
from obs_faceswap.vision.lowres import correct_downscaled
from obs_faceswap.vision.masks import combine
from obs_faceswap.vision.options import FaceOptions
from obs_faceswap.vision.paste import paste_back
from obs_faceswap.vision.record import FaceRecord
from obs_faceswap.vision.tone import match_sharpness, transfer_shading
from obs_faceswap.vision.types import Face, Frame, Mask

if TYPE_CHECKING:
    from obs_faceswap.vision.quality import QualityStages
    from obs_faceswap.vision.swappers.base import Swapper

COLOUR_FACE_PX = 112  # colour and lighting of a bigger frame-space face are computed at this face size
SEAMLESS_FROM = 0.05  # blend weight from which a pixel is inside the Poisson-blending region


def merge_face(out: Frame, record: FaceRecord, options: FaceOptions, *, seamless: bool = False,
               stats: dict[str, float] | None = None) -> Frame:
    """Combine ``record``'s masks, match its colour and paste it into ``out`` (in place); returns ``out``."""
    t0 = time.perf_counter()
    mask = combine(record.masks.values())
    if mask is None:
        mask = np.ones(record.crop.shape[:2], np.float32)
    swapped = record.swapped
    colour = record.colour
    if colour.match_detail:
        swapped = match_sharpness(swapped, record.crop, mask)
    if options.color_method != "none" and options.color_strength > 0:
        swapped = _match_colour(swapped, record, mask, options)
    t1 = time.perf_counter()
    if seamless:
        swapped = seamless_clone(swapped, record.crop, mask * np.float32(options.blend))
    if record.reshaped and record.in_frame:
        _write_reshaped(out, record)
    paste_back(out, swapped, record.affine, mask, options.blend)
    if stats is not None:
        t2 = time.perf_counter()
        stats["color_ms"] = stats.get("color_ms", 0.0) + (t1 - t0) * 1000.0
        stats["paste_ms"] = stats.get("paste_ms", 0.0) + (t2 - t1) * 1000.0
    return out


def _match_colour(swapped: Frame, record: FaceRecord, mask: Mask, options: FaceOptions) -> Frame:
    """Colour transfer and (when the record asks) the target's lighting; on a big frame-space face
    computed on the face scaled to ``COLOUR_FACE_PX`` and applied as a smooth difference."""
    colour = record.colour

    def correct(img: Frame, ref: Frame, masks: Sequence[Mask | None]) -> Frame:
        region, skin = masks
        out = transfer_color(img, ref, colour.method or options.color_method, options.color_strength,
                             skin if skin is not None else region, gain_limits=colour.gain_limits)
        if colour.relight and skin is not None:
            k = img.shape[1] / swapped.shape[1]
            out = transfer_shading(out, ref, skin, colour.face_size * k, options.color_strength,
                                   None if colour.relief is None else colour.relief * np.float32(k))
        return out

    scale = COLOUR_FACE_PX / colour.face_size if colour.face_size > 0 else 1.0
    return correct_downscaled(correct, swapped, record.crop, scale, (mask, colour.mask))


def _write_reshaped(out: Frame, record: FaceRecord) -> None:
    """The reshaped target (``record.surroundings``) under the swap, except where a mask other than
    "face" is 0 inside the record's ROI (the user keeps the camera's own pixels there: own lips,
    occluders, excluded parser regions)."""
    assert record.surroundings is not None
    sx, sy, pixels = record.surroundings
    region = out[sy:sy + pixels.shape[0], sx:sx + pixels.shape[1]]
    keeps = [m for name, m in record.masks.items() if name != "face"]
    if not keeps:
        region[...] = pixels
        return
    x0, y0, x1, y1 = record.roi
    inner = region[y0 - sy:y1 - sy, x0 - sx:x1 - sx]
    camera = inner.copy()
    region[...] = pixels
    kept = combine(keeps)
    np.copyto(inner, camera, where=(kept <= 0.0)[..., None])  # type: ignore[operator]


def seamless_clone(swapped: Frame, target: Frame, alpha: Mask) -> Frame:
    """``swapped`` Poisson-blended (``cv2.seamlessClone``) into ``target`` where ``alpha`` is above
    ``SEAMLESS_FROM``; ``swapped`` unchanged when that region is tiny or OpenCV refuses it."""
    m = (alpha > SEAMLESS_FROM).astype(np.uint8) * 255
    ys, xs = np.nonzero(m)
    if len(xs) < 16:
        return swapped
    m[0, :] = m[-1, :] = 0
    m[:, 0] = m[:, -1] = 0
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    centre = (int((x0 + x1) // 2), int((y0 + y1) // 2))
    try:
        return cv2.seamlessClone(swapped, target, m, centre, cv2.NORMAL_CLONE)  # type: ignore[no-any-return]
    except cv2.error:
        return swapped


def swap_all(frame: Frame, faces: Sequence[Face], swapper: Swapper, source: object, options: FaceOptions, *,
             stages: QualityStages | None = None, stats: dict[str, float] | None = None,
             seamless: bool = False, sources: Sequence[object] | None = None) -> Frame:
    """A copy of ``frame`` with each of ``faces`` swapped to ``source`` (``frame`` itself when none was);
    ``sources`` (one per face) gives each face its own prepared source instead (``source_map``).

    Per face: the swapper's swap step makes a record (None: that face is skipped), the quality
    ``stages`` add their masks and :func:`merge_face` pastes it; then the enhancer restores each
    pasted face in the frame (``QualityStages.enhance_frame``). ``stats``
    receives per-stage milliseconds (``swap_ms``, ``enhance_ms``, ``mask_ms``, ``color_ms``,
    ``paste_ms``).
    """
    laps: dict[str, float] = stats if stats is not None else {}

    def lap(name: str, t: float) -> float:
        now = time.perf_counter()
        laps[name] = laps.get(name, 0.0) + (now - t) * 1000.0
        return now

    out: Frame | None = None
    merged: list[Face] = []
    # all faces in one model run (neural swappers); a per-face source map goes face by face
    batched = getattr(swapper, "swap_faces", None) if sources is None else None
    records: list[FaceRecord] | None = None
    if batched is not None and len(faces) > 1:
        t = time.perf_counter()
        records = list(batched(frame, faces, source, options))
        lap("swap_ms", t)
    for i, face in enumerate(faces):
        t = time.perf_counter()
        if records is not None:
            record: FaceRecord | None = records[i]
        else:
            record = swapper.swap_face(frame, face, source if sources is None else sources[i], options)
            t = lap("swap_ms", t)
        if record is None:
            continue
        if stages is not None:
            stages.add_masks(frame, record)
            lap("mask_ms", t)
        out = frame.copy() if out is None else out
        merge_face(out, record, options, seamless=seamless, stats=stats)
        merged.append(record.face)
    if out is None:
        return frame
    if stages is not None:  # the enhancer on the pasted faces, at its own resolution in the frame
        t = time.perf_counter()
        for face in merged:
            out = stages.enhance_frame(out, face)
        lap("enhance_ms", t)
    return out
