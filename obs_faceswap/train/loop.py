"""The training loop every trainer shares: run folder, resume, batches, previews, losses, stop.

A trainer supplies its models and optimisers, a ``make_batch(step)`` that depends only on the
run's seed and the step (so data-loader workers and resumes see the very same batches), a
``train_step(batch)`` returning named losses and a ``preview(batch)`` returning image rows.
The run folder holds ``checkpoint.pt``, ``losses.csv``, ``losses.png``, ``preview.png`` (latest)
and ``previews/step_NNNNNNN.png``. Running again on a folder with a checkpoint continues it
(refused if the settings that shape the model differ).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from obs_faceswap.errors import FaceSwapError
from obs_faceswap.train.common import (
    LossLog,
    StopRule,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    write_preview,
)

CHECKPOINT = "checkpoint.pt"


class Trainer(Protocol):
    kind: str  # "reswapper" | "dfm": stored in the checkpoint, read by export
    seed: int  # batches depend only on (seed, step); a resumed run takes the checkpoint's
    loss_fields: Sequence[str]
    preview_labels: Sequence[str]

    def modules(self) -> Mapping[str, torch.nn.Module]: ...
    def optimizers(self) -> Mapping[str, torch.optim.Optimizer]: ...
    def config(self) -> dict[str, Any]: ...
    def make_batch(self, step: int) -> Any: ...
    def train_step(self, batch: Any) -> Mapping[str, float]: ...
    def preview(self, batch: Any) -> list[list[torch.Tensor]]: ...


class _Steps(Dataset):  # type: ignore[type-arg]
    """Batch ``step`` of a trainer (``DataLoader`` runs ``make_batch`` in its workers)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, step: int) -> Any:
        return self.trainer.make_batch(step)


def batches(trainer: Trainer, start: int, workers: int) -> Iterator[Any]:
    loader = DataLoader(_Steps(trainer), batch_size=None, sampler=range(start, 1 << 40), num_workers=workers,
                        prefetch_factor=2 if workers else None, persistent_workers=False)
    return iter(loader)


@dataclass
class RunResult:
    step: int
    resumed_from: int
    losses: list[dict[str, float]]
    folder: Path
    interrupted: bool = False  # stopped by Ctrl+C (after finishing the step and saving)

    @property
    def last(self) -> dict[str, float]:
        return self.losses[-1] if self.losses else {}


@contextmanager
def _sigint_finishes_the_step() -> Iterator[list[bool]]:
    """The first Ctrl+C asks the loop to finish its step, save and stop; a second one interrupts at once.
    (Only where Python's own SIGINT handler is in place, in the main thread.)"""
    asked: list[bool] = []
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield asked
        return

    def handler(signum: int, frame: object) -> None:
        asked.append(True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


SHAPE_KEYS = "shape"  # config()["shape"]: what must match to resume


def run_training(trainer: Trainer, folder: str | os.PathLike[str], stop: StopRule, *,
                 preview_every: int = 100, save_every: int = 500, workers: int = 0,
                 progress: bool = True) -> RunResult:
    """Train until ``stop`` (resuming a checkpoint in ``folder``), writing checkpoints, previews and losses."""
    from tqdm import tqdm

    run = Path(folder)
    run.mkdir(parents=True, exist_ok=True)
    ck = run / CHECKPOINT
    config = {"kind": trainer.kind, "seed": trainer.seed, **trainer.config()}
    start = 0
    if ck.exists():
        blob = load_checkpoint(ck)
        old = blob.get("config", {})
        if old.get("kind") != trainer.kind or old.get(SHAPE_KEYS) != config.get(SHAPE_KEYS):
            raise FaceSwapError(f"{run} holds a {old.get('kind')} run with other model settings "
                                f"({old.get(SHAPE_KEYS)}); use another --run folder or the same settings")
        config["seed"] = trainer.seed = int(old.get("seed", trainer.seed))
        start = restore_checkpoint(blob, modules=trainer.modules(), optimizers=trainer.optimizers())
    log = LossLog(run / "losses.csv", trainer.loss_fields, resume_step=start if start else None)
    step = start
    it = batches(trainer, start, workers)
    fixed: list[Any] = []  # the batch every preview shows (step 0's), so previews compare

    def save() -> None:
        save_checkpoint(ck, step=step, modules=trainer.modules(), optimizers=trainer.optimizers(), config=config)
        log.write()
        log.plot(run / "losses.png")

    def preview() -> None:
        if not fixed:
            fixed.append(trainer.make_batch(0))
        with torch.no_grad():
            rows = trainer.preview(fixed[0])
        write_preview(run / "previews" / f"step_{step:07d}.png", rows, trainer.preview_labels)
        write_preview(run / "preview.png", rows, trainer.preview_labels)

    total = stop.max_steps if stop.max_steps is not None else None
    with tqdm(total=total, initial=start, unit="step", desc=trainer.kind, disable=not progress) as bar, \
            _sigint_finishes_the_step() as asked:
        try:
            while not stop.done(step) and not asked:
                batch = next(it)
                losses = trainer.train_step(batch)
                step += 1
                log.add(step, **losses)
                bar.update(1)
                bar.set_postfix({k: f"{v:.4f}" for k, v in losses.items()})
                if preview_every and step % preview_every == 0:
                    preview()
                if save_every and step % save_every == 0:
                    save()
        finally:
            del it
    if step > start or not ck.exists():
        save()
        preview()
    return RunResult(step, start, list(log.rows), run, interrupted=bool(asked))


def read_run_config(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, checkpoint blob) of a run folder or a checkpoint file."""
    p = Path(folder)
    blob = load_checkpoint(p / CHECKPOINT if p.is_dir() else p)
    return dict(blob.get("config", {})), blob
