"""``obs-faceswap bench NAME``: measure ours beside a named baseline in the same run."""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "bench",
        help="measure speed (prints a table, or JSON with --json)",
        description="Benchmarks that time our code beside a named baseline measured in the same run.",
    )
    bench_sub = parser.add_subparsers(dest="bench", metavar="NAME")
    import obs_faceswap.bench as benches

    for info in sorted(pkgutil.iter_modules(benches.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"obs_faceswap.bench.{info.name}")
        reg = getattr(module, "register", None)
        if reg is not None:
            reg(bench_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 1)
