"""`overpaint train`: teach a model a concept from a folder of pictures, without a window.

Progress goes to stderr (step, loss, time left), the LoRA's path to stdout. Exit codes as
elsewhere: 0 success, 1 error (one `error: ...` line), 2 usage error, 130 Ctrl-C. Ctrl-C
saves a checkpoint first, so running the same command again continues where it stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from engine.core.errors import Cancelled, EngineError
from engine.core.precision import PRECISIONS
from engine.training.data import DEFAULT_TEMPLATE
from engine.training.settings import PRESETS, TrainingSettings
from engine.training.trainer import TrainingProgress


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="overpaint train",
        description="Train a LoRA that teaches a model a new subject or style from a few "
        "pictures (captions from NAME.txt beside each picture, or the caption template).",
    )
    p.add_argument("--images", type=Path, required=True, help="folder of pictures (at least 3)")
    p.add_argument("--concept", required=True, help="the word prompts will use for it")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="LoRA file (default: models/loras/CONCEPT.safetensors)",
    )
    p.add_argument("--model", default="", help="base model path or name (default: the default)")
    p.add_argument("--preset", choices=PRESETS, default="normal", help="how long to train")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: preset)")
    p.add_argument("--rank", type=int, default=None, help="LoRA rank (default: preset)")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same LoRA")
    p.add_argument(
        "--caption-template",
        default=DEFAULT_TEMPLATE,
        help="caption for pictures without NAME.txt; {concept} becomes the concept word",
    )
    p.add_argument(
        "--no-flip",
        action="store_true",
        help="do not train on mirror images (their captions say right for left and back)",
    )
    p.add_argument("--bucket", action="store_true", help="keep aspect ratios (no square crop)")
    p.add_argument(
        "--prior-images",
        type=int,
        default=None,
        help="pictures the model draws from the captions without the concept word, trained "
        "on beside yours to keep what the other words mean (default: 8 on a CPU, 16 on a "
        "GPU; 0: none)",
    )
    p.add_argument("--train-text-encoder", action="store_true", help="LoRA on the text encoder too")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--device", choices=("cuda", "mps", "cpu"), default=None)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="on a CPU: auto (bf16 where this processor computes it faster), fp32 or bf16",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (default: all cores but one)",
    )
    p.add_argument(
        "--models-dir", action="append", default=[], type=Path, help="extra models folder"
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and engine logs")
    return p


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Reporter:
    """One progress line, rewritten in place on a terminal, every few percent otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.last = -1

    def __call__(self, p: TrainingProgress) -> None:
        tty = self.stream.isatty()
        tenth = p.step * 20 // max(p.total, 1)
        if not tty and tenth == self.last and p.step != p.total:
            return
        self.last = tenth
        loss = f"{p.loss:.4f}" if p.loss is not None else "?"
        text = f"step {p.step}/{p.total}  loss {loss}  {_minutes(p.seconds_left)} left"
        self.stream.write("\r" + text if tty else text + "\n")
        if tty and p.step == p.total:
            self.stream.write("\n")
        self.stream.flush()


def settings_from(args: argparse.Namespace) -> TrainingSettings:
    return TrainingSettings(
        images=args.images,
        concept=args.concept,
        out=args.out,
        model=args.model,
        preset=args.preset,
        steps=args.steps,
        rank=args.rank,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        template=args.caption_template,
        flip=not args.no_flip,
        bucket=args.bucket,
        train_text_encoder=args.train_text_encoder,
        prior_images=args.prior_images,
        checkpoint_every=args.checkpoint_every,
        device=args.device,
        extra_dirs=tuple(args.models_dir),
        threads=max(0, args.threads),
        precision=args.precision,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help exits 0, usage errors 2
        return int(e.code or 0)
    from engine.cli.common import setup_cli_logging  # cheap: to be hoisted (issue 23)

    setup_cli_logging(args.debug)
    interrupted = []

    def on_sigint(_sig, _frame) -> None:
        if interrupted:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        interrupted.append(True)

    # Signal handlers can only be set from the main thread (tests may call from others).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        from engine.training.trainer import train_lora  # cheap: to be hoisted (issue 23)

        result = train_lora(
            settings_from(args), on_progress=_Reporter(), should_cancel=lambda: bool(interrupted)
        )
    except (KeyboardInterrupt, Cancelled) as e:
        print(f"\ninterrupted: {e}" if str(e) else "\ninterrupted", file=sys.stderr)
        return 130
    except EngineError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: training failed unexpectedly ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    if result.resumed_from:
        print(f"continued from step {result.resumed_from}", file=sys.stderr)
    print(result.path)
    return 0
