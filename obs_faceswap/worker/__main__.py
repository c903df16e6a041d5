"""``python -m obs_faceswap.worker``."""

import sys

EXIT_MISSING_DEPENDENCY = 5

if __name__ == "__main__":
    try:
        from obs_faceswap.worker.server import main
    except ImportError as exc:
        print(f"obs-faceswap worker: this Python ({sys.executable}) lacks {exc.name or exc}: install "
              "obs-faceswap's dependencies into it (run the installer), or point OBS at the installer's "
              "Python", file=sys.stderr, flush=True)
        sys.exit(EXIT_MISSING_DEPENDENCY)
    sys.exit(main())
