"""``obs-faceswap``: the command line.

Each sub-command lives in ``obs_faceswap/commands/<name>.py`` and exposes
``register(subparsers) -> None``; the parser it adds sets ``func(args) -> int``.
Errors derived from ``FaceSwapError`` print one clear line and exit with code 2. Ctrl-C (SIGINT),
SIGTERM and SIGHUP all take the same clean path: outputs in progress are removed, exit code
128 + the signal number (130, 143, 129).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, ModuleType

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

    register_all(commands, sub)
    return parser


def register_all(package: ModuleType, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Call ``register(subparsers)`` of every public module of ``package``, in name order
    (sub-commands in ``obs_faceswap.commands``, benchmarks in ``obs_faceswap.bench``)."""
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)


class Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP turned into the same clean interruption path as Ctrl-C (``finally`` blocks,
    ``atomic_output`` removing its part file)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_IGN)  # a repeated signal must not cut the clean-up short
    raise Terminated(signum)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM/SIGHUP raise ``Terminated`` (main thread only; handlers restored)."""
    saved: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            if signal.getsignal(sig) is signal.SIG_IGN:  # e.g. SIGHUP under nohup: stay ignored
                continue
            try:
                saved[sig] = signal.signal(sig, _raise_terminated)
            except (OSError, ValueError):
                pass
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


def _deepest_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)sub-command parser the arguments reached, so its own usage goes with an error."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, action.dest, None) if action is not None else None
        if action is None or name not in action.choices:
            return parser
        parser = action.choices[name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the sub-command's parser: its usage, not the top-level one
        _deepest_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 1
    try:
        with _signals_interrupt():
            return int(func(args) or 0)
    except FaceSwapError as exc:
        print(f"obs-faceswap: error: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        name = signal.Signals(exc.signum).name
        print(f"obs-faceswap: stopped by {name}; unfinished output removed", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("obs-faceswap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
