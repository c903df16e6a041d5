"""Stand-in quality models for the tests: re-exported from ``obs_faceswap.models.standins.quality``."""

from __future__ import annotations

from obs_faceswap.models.standins.quality import (  # noqa: F401  (re-exported for the tests)
    ENHANCER_GAINS_RGB,
    OCCLUDER_BGR,
    PARSER_PALETTE_BGR,
    all_models,
    bisenet,
    codeformer,
    enhancer_expected,
    face_layout,
    gfpgan,
    gpen,
    mesh_with_lips,
    paint_labels,
    xseg,
)
