"""The embedded (classical) swapper: a landmark warp that needs no download.

``swapper.py`` is the swap step (``ClassicalSwapper``, the source preparation), ``warp.py`` the
piecewise-affine warp over the face mesh, ``masks.py`` the masks drawn from the mesh.
"""

from obs_faceswap.vision.swappers.classical.swapper import ClassicalSwapper
from obs_faceswap.vision.swappers.classical.warp import ClassicalSource

__all__ = ["ClassicalSource", "ClassicalSwapper"]
