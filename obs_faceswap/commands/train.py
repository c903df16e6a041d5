"""``obs-faceswap train TRAINER``: train swappers (needs the ``train`` extra: torch).

Each trainer is a module ``obs_faceswap/commands/train_<name>.py`` exposing
``register_train(subparsers) -> None``; this module collects them under ``train``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "train", help="train your own swapper models (needs: pip install 'obs-faceswap[train]')",
        description="Train swapper models on your own face photos. Each trainer writes checkpoints, previews "
                    "and loss curves into a run folder, resumes when run again on it, and exports an ONNX "
                    "file the swap commands load. Needs the 'train' extra (torch).",
    )
    train_sub = parser.add_subparsers(dest="trainer", metavar="TRAINER")
    import obs_faceswap.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("train_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            module.register_train(train_sub)
    parser.set_defaults(func=lambda args: parser.print_help() or 1)
