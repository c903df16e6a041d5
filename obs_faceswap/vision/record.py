"""``FaceRecord``: one swapped face on its way from the swap step to the merge stage.

The swap step of every swapper makes one record per face: the target's pixels in the record's
space (``crop``), the transform that maps the frame there (``affine``), the swapped pixels
(``swapped``), its masks by name, and how its colour is to be matched (``colour``). The quality
stages add to it (the enhancer replaces ``swapped``, the face parser and the occluder add masks),
and :func:`obs_faceswap.vision.merge.merge_face` combines the masks by element-wise minimum,
matches the colour, applies ``blend`` and pastes the face's region back: the one place where a
swapped face meets the frame.

Two spaces occur: an aligned square crop (neural swappers: ``affine`` is the similarity warp to
their template) and the face's frame ROI (the classical swapper: ``affine`` is a whole-pixel
translation, ``in_frame`` is True, and the enhancer then runs on the frame after the merge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from obs_faceswap.vision.align import Affine
from obs_faceswap.vision.types import Face, Frame, Mask, Points

# per LAB channel (low, high) bounds of the colour transfer's spread gain
GainLimits = tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclass
class ColourState:
    """How the merge stage matches the swapped face to the target's colour and light.

    ``mask`` selects the pixels whose statistics count (None: the record's combined mask);
    ``gain_limits`` bounds the spread gain (``transfer_color``); ``relight`` adds the target's
    low-frequency lighting on the skin of ``mask`` (needs ``face_size`` in pixels);
    ``match_detail`` sharpens the swap toward the target's detail level first; ``method`` is the
    swapper's own colour transfer ('' = the ``color_method`` option; 'none' there still turns it off);
    ``relief`` is a convex polygon (record pixels) where the relighting follows the target's finer
    shading (the nose).
    """

    mask: Mask | None = None
    method: str = ""
    gain_limits: GainLimits | None = None
    relight: bool = False
    match_detail: bool = False
    face_size: float = 0.0
    relief: Points | None = None


@dataclass
class FaceRecord:
    """One face between the swap step and the merge stage (see the module doc)."""

    face: Face
    crop: Frame  # the target's pixels in record space
    affine: Affine  # frame -> record space
    swapped: Frame  # the swapped face, same shape as ``crop``
    masks: dict[str, Mask] = field(default_factory=dict)  # by name; combined by element-wise minimum
    colour: ColourState = field(default_factory=ColourState)
    in_frame: bool = False  # record space is the face's frame ROI (a whole-pixel translation)
    # the target reshaped around a moved face outline (its skin, hair line and neck morphed): frame
    # position (x0, y0) and pixels of a region holding ``roi``, which ``crop`` is a view of; the merge
    # writes it under the swap, except where a mask other than "face" keeps the camera's own pixels
    surroundings: tuple[int, int, Frame] | None = None

    @property
    def reshaped(self) -> bool:
        """True when the record carries morphed surroundings (``crop`` is the reshaped target)."""
        return self.surroundings is not None

    @property
    def roi(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of a frame-space record."""
        x0, y0 = int(round(-self.affine[0, 2])), int(round(-self.affine[1, 2]))
        return x0, y0, x0 + self.crop.shape[1], y0 + self.crop.shape[0]


def roi_affine(x0: int, y0: int) -> Affine:
    """The frame -> ROI transform of a ROI whose top-left corner is (x0, y0)."""
    return np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]], dtype=np.float64)
