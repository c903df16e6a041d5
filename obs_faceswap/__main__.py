import sys

from obs_faceswap.cli import main

sys.exit(main())
