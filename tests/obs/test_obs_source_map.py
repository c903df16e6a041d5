"""Issue 13's face settings inside a real OBS: a per-face source map, and the new keys' defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .harness import HeadlessObs
from .test_obs_filters import (
    FACE,
    SPEECH,
    SWAP,
    SWAPPED,
    UNCHANGED,
    VIDEO_KIND,
    VOICE,
    changed,
    ensure_filter,
    face_box,
    set_if_present,
    wait_for,
)

pytestmark = [pytest.mark.obs, pytest.mark.slow]


def test_source_map_alone_swaps_the_mapped_face(obs: HeadlessObs, astronaut_bgr: np.ndarray,
                                                 group_photo_path: Path) -> None:
    defaults = obs.call("GetSourceFilterDefaultSettings", {"filterKind": VIDEO_KIND})["defaultFilterSettings"]
    assert defaults["source_map"] == "" and defaults["pixel_boost"] == 128 and defaults["dfm_morph"] == 75
    set_if_present(obs, SPEECH, VOICE, {"enabled": False})
    box = face_box(astronaut_bgr)
    # no source photo at all: only the map says which face becomes whom (one entry per line)
    ensure_filter(obs, FACE, SWAP, VIDEO_KIND, {"source_image": "", "swapper": "embedded", "blend": 100,
                                                "enabled": True, "source_map": f"0={group_photo_path}\n"})
    wait_for(lambda: changed(obs.screenshot(FACE), astronaut_bgr, box)[0] > SWAPPED, 60,
             lambda: "the mapped face never changed; status: " + str(obs.filter_settings(FACE, SWAP).get("status")))
    # a map naming no face here (position 3) leaves the picture alone and says why nothing is swapped
    obs.set_filter_settings(FACE, SWAP, {"source_map": f"3={group_photo_path}"})
    wait_for(lambda: changed(obs.screenshot(FACE), astronaut_bgr, box)[0] < UNCHANGED, 30,
             "a map for another face position still swapped this one")
    obs.set_filter_settings(FACE, SWAP, {"source_map": "", "source_image": str(group_photo_path)})
