"""obs-faceswap for OBS Studio: add THIS file in OBS > Tools > Scripts.

It adds the "Face Swap" video filter and the "Voice Clone" audio filter. The code lives in the
``obs_faceswap.obs`` package beside this file; this loader only makes that package importable
from OBS's embedded Python (standard library only) and hands OBS the script entry points.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from obs_faceswap.obs.script import (  # noqa: E402,F401  (OBS looks these names up)
    script_defaults,
    script_description,
    script_load,
    script_properties,
    script_unload,
    script_update,
)
