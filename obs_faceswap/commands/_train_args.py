"""Flags every ``obs-faceswap train`` trainer shares, and the run/report step after building a trainer.

(Not a trainer itself: it has no ``register_train``.)
"""

from __future__ import annotations

import argparse
from typing import Any


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, metavar="FOLDER",
                   help="run folder: checkpoint, previews, losses.csv/png; an existing run is resumed")
    p.add_argument("--max-steps", type=int, default=None, metavar="N", help="stop at this total step count")
    p.add_argument("--minutes", type=float, default=None, metavar="M", help="stop after this many minutes")
    p.add_argument("--preview-every", type=int, default=100, metavar="N",
                   help="write preview.png every N steps (default: 100)")
    p.add_argument("--save-every", type=int, default=500, metavar="N",
                   help="write the checkpoint and loss plot every N steps (default: 500)")
    p.add_argument("--workers", type=int, default=2, help="data-loader worker processes (default: 2)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default: auto)")
    p.add_argument("--no-amp", action="store_true", help="no float16 mixed precision on CUDA")
    p.add_argument("--seed", type=int, default=0, help="random seed of a new run (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def finish(args: argparse.Namespace, trainer: Any) -> int:
    from obs_faceswap.train.common import StopRule
    from obs_faceswap.train.loop import run_training

    stop = StopRule(max_steps=args.max_steps, minutes=args.minutes)
    res = run_training(trainer, args.run, stop, preview_every=args.preview_every, save_every=args.save_every,
                       workers=args.workers, progress=not args.quiet)
    last = ", ".join(f"{k} {v:.4f}" for k, v in res.last.items() if k != "step")
    print(f"step {res.step} (from {res.resumed_from}) in {res.folder}: {last or 'no new steps'}")
    if res.interrupted:
        print("stopped by Ctrl+C after saving the checkpoint; run the same command to continue")
        return 130
    return 0
