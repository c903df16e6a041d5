"""``python -m obs_faceswap.worker``."""

import sys

from obs_faceswap.worker.server import main

if __name__ == "__main__":
    sys.exit(main())
