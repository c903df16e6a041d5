"""Sub-commands of ``obs-faceswap``: one module each, each with ``register(subparsers)``."""
