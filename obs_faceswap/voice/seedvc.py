"""seed-vc backend (zero-shot voice conversion from a reference clip): not bundled.

seed-vc runs only on PyTorch and is GPL-3.0, so it is an optional extra this project does not ship.
Choosing it gives a clear message instead of failing somewhere deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obs_faceswap.errors import FaceSwapError


class SeedVcUnavailable(FaceSwapError):
    """The seed-vc backend was chosen but cannot run here."""


class SeedVcVoice:
    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SeedVcVoice:
        ref = str(settings.get("reference_voice", "")).strip()
        need_ref = "" if ref else " and set 'reference_voice' to a 5-30 s clip of the target voice"
        raise SeedVcUnavailable(
            "the seed-vc backend needs PyTorch and the seed-vc package, which obs-faceswap does not install "
            f"(GPL-3.0, torch only): install the seedvc extra yourself{need_ref}, or use backend 'dsp' "
            "(no download) or 'rvc' (your RVC .onnx voice model).")
