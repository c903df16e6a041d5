"""``obs-faceswap``: the command line.

Each sub-command lives in ``obs_faceswap/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int``.
Errors derived from ``FaceSwapError`` print one clear line and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from obs_faceswap import __version__
from obs_faceswap.errors import FaceSwapError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obs-faceswap",
        description="Live face swap and voice clone for OBS Studio, a live preview, and image/video files.",
        epilog="Run 'obs-faceswap COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"obs-faceswap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import obs_faceswap.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"obs_faceswap.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 1
    try:
        return int(func(args) or 0)
    except FaceSwapError as exc:
        print(f"obs-faceswap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("obs-faceswap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
