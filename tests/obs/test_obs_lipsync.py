"""Lip sync inside a real OBS Studio: the Face Swap filter's mouth follows the sound of another OBS source."""

from __future__ import annotations

import re

import numpy as np
import pytest

from obs_faceswap.lipsync.embedded import EmbeddedLipSync
from obs_faceswap.lipsync.mesh_motion import mouth_opening

from .harness import HeadlessObs
from .test_obs_filters import FACE, SPEECH, SWAP, face_swap, wait_for  # noqa: F401  (fixture)

pytestmark = [pytest.mark.obs, pytest.mark.slow]
DELAY = re.compile(r"lip sync (\d+) ms delay")
LATE = re.compile(r"(\d+) % without their sound")


def _steady(status: str) -> bool:
    """Lip sync running, and (OBS hands the audio over a second late: the first frames have none)
    most frames so far drawn with their own sound."""
    late = LATE.search(status)
    return DELAY.search(status) is not None and "lip sync off" not in status and (late is None or int(late[1]) < 15)


def _openings(obs: HeadlessObs, sync: EmbeddedLipSync, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        face = sync.face(obs.screenshot(FACE))
        assert face is not None, "no face in OBS's picture"
        out.append(mouth_opening(face.landmarks))
    return np.array(out)


def test_lip_sync_follows_the_audio_of_an_obs_source(obs: HeadlessObs, face_swap: str) -> None:  # noqa: F811
    try:
        # a source that does not exist: said in the status, the swap goes on
        obs.set_filter_settings(FACE, SWAP, {"lipsync": True, "lipsync_audio_source": "No Such Mic"})
        obs.wait_status(FACE, SWAP, lambda s: "lip sync off: no OBS source named 'No Such Mic'" in s)
        # the looping speech drives the mouth; the delay (the look-ahead in whole frames) is shown
        obs.set_filter_settings(FACE, SWAP, {"lipsync_audio_source": SPEECH})
        status = obs.wait_status(FACE, SWAP, _steady, 90)
        delay = int(DELAY.search(status).group(1))
        print(f"lip sync status: {status}")
        assert 0 < delay <= 500, status  # the look-ahead, less the audio block's lead, in frames as they come
        sync = EmbeddedLipSync()
        talking = _openings(obs, sync, 16)
        obs.set_filter_settings(FACE, SWAP, {"lipsync": False})
        obs.wait_status(FACE, SWAP, lambda s: "lip sync" not in s)
        still = _openings(obs, sync, 8)
        msg = f"mouth opening with lip sync {talking.round(3)}, without {still.round(3)}"
        print(msg)
        # the mouth moves with the speech (the worker test's openings span 0.03..0.40), not by itself
        assert np.ptp(talking) > max(0.1, 3 * np.ptp(still)), msg
    finally:
        obs.set_filter_settings(FACE, SWAP, {"lipsync": False, "lipsync_audio_source": ""})
