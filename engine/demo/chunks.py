"""The command line and timed loop the demo's resumable trainers share (the scribble
ControlNet's and the reference adapter's): train in chunks of `--minutes`, save every
`--save-every` seconds and when the chunk ends, so the same command run again resumes."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np


def chunk_arguments(parser: argparse.ArgumentParser, lr: float, model: Path) -> None:
    """The options every chunked demo trainer takes."""
    parser.add_argument("--work", type=Path, required=True, help="checkpoint folder (resumes)")
    parser.add_argument("--minutes", type=float, default=10.0, help="train this long, then save")
    parser.add_argument("--save-every", type=float, default=120.0, help="seconds between saves")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--model", type=Path, default=model)


def train_chunk(
    trainer: Any,
    args: argparse.Namespace,
    log: logging.Logger,
    names: tuple[str, ...] = ("loss",),
    steps: int = 0,
) -> None:
    """Run `trainer.train_step()` for `args.minutes` (or until step `steps`, 0: no limit),
    logging the mean of the last ten steps' losses (one per name) every ten steps."""
    end = time.monotonic() + args.minutes * 60
    last_save = time.monotonic()
    losses: list[np.ndarray] = []
    while time.monotonic() < end and not (steps and trainer.step >= steps):
        losses.append(np.atleast_1d(trainer.train_step()))
        if trainer.step % 10 == 0:
            means = np.mean(losses[-10:], axis=0)
            said = " ".join(f"{n} {m:.4f}" for n, m in zip(names, means, strict=True))
            log.info("step %d %s", trainer.step, said)
        if time.monotonic() - last_save > args.save_every:
            trainer.save()
            last_save = time.monotonic()
    trainer.save()
    log.info("saved step %d to %s", trainer.step, args.work)
