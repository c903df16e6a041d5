"""obs-faceswap: live face swap and voice clone for OBS Studio.

The OBS-side modules (``obs_faceswap.obs``, ``obs_faceswap.ipc``, ``obs_faceswap.settings``)
are standard-library only; everything else runs in the worker or the standalone CLI.
"""

__version__ = "0.1.0"

PROTOCOL_VERSION = 3  # 2: one slot pool per video channel, results in place, colour matrix in the header;
# 3: region frames (frame layout 3: a downscaled frame plus the face region; ipc/regions.py)
