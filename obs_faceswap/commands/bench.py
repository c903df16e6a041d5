"""``obs-faceswap bench NAME``: measure ours beside a named baseline in the same run."""

from __future__ import annotations

import argparse
import re


def plain_description(text: str) -> str:
    """A bench's description as users should read it: a raw module docstring (``double backticks``,
    the ``obs-faceswap bench NAME``: prefix, internal detail after the first paragraph) becomes its
    first paragraph in plain words; descriptions written for ``--help`` are left alone."""
    if "``" not in text:
        return text
    first = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    first = re.sub(r"^``obs-faceswap bench [\w-]+``:\s*", "", first)
    first = " ".join(first.replace("``", "").split())
    return first[:1].upper() + first[1:]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "bench",
        help="measure speed (prints a table, or JSON with --json)",
        description="Benchmarks that time our code beside a named baseline measured in the same run.",
    )
    bench_sub = parser.add_subparsers(dest="bench", metavar="NAME")
    import obs_faceswap.bench as benches
    from obs_faceswap.cli import register_all

    register_all(benches, bench_sub)
    for bench_parser in bench_sub.choices.values():
        bench_parser.description = plain_description(bench_parser.description or "")
        for action in bench_parser._actions:  # one way to show defaults everywhere: "(default: X)"
            if action.help:
                action.help = re.sub(r"\(default (?!:)", "(default: ", action.help)
    parser.set_defaults(func=lambda args: parser.print_help() or 1)
