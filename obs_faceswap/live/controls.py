"""Keys of the live preview window and what they change in the face settings.

    s  swap on/off            e  enhancer on/off        m  occlusion mask on/off
    +  blend +10 %            -  blend -10 %            q / Esc  quit
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obs_faceswap.settings import FACE_SETTINGS

QUIT_KEYS = (ord("q"), ord("Q"), 27)
BLEND_STEP = 10
DEFAULT_ENHANCER = "gfpgan_1.4"
HELP = "s swap  e enhancer  m mask  +/- blend  q quit"


@dataclass(frozen=True)
class KeyResult:
    settings: dict[str, Any]
    message: str = ""
    quit: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.message) and not self.quit


def apply_key(key: int, settings: Mapping[str, Any], *, enhancer: str = DEFAULT_ENHANCER) -> KeyResult:
    """The settings after pressing ``key`` (a ``cv2.waitKey`` code; -1 = none).

    ``enhancer`` is the model the 'e' key turns on (the one given on the command line, if any).
    """
    s = dict(settings)
    if key < 0:
        return KeyResult(s)
    k = key & 0xFF
    if k in QUIT_KEYS:
        return KeyResult(s, "quit", quit=True)
    ch = chr(k).lower()
    if ch == "s":
        s["enabled"] = not bool(s.get("enabled", True))
        return KeyResult(s, f"swap {'on' if s['enabled'] else 'off'}")
    if ch == "e":
        s["enhancer"] = enhancer if s.get("enhancer", "none") == "none" else "none"
        return KeyResult(s, f"enhancer {s['enhancer']}")
    if ch == "m":
        s["occlusion_mask"] = not bool(s.get("occlusion_mask", False))
        return KeyResult(s, f"occlusion mask {'on' if s['occlusion_mask'] else 'off'}")
    if ch in "+=-_":
        step = BLEND_STEP if ch in "+=" else -BLEND_STEP
        blend = FACE_SETTINGS.by_name["blend"]
        s["blend"] = blend.coerce(int(s.get("blend", blend.default)) + step)  # the setting's own range
        return KeyResult(s, f"blend {s['blend']} %")
    return KeyResult(s)
