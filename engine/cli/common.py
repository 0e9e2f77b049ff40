"""What every `overpaint` command shares: its error type, reading the pictures it is
given, writing its outputs (watermarked and with metadata, each atomically), the progress
line, the engine options and the exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.core import images
from engine.core.errors import EngineError
from engine.core.log_setup import setup_logging
from engine.core.precision import PRECISIONS
from engine.metadata import WATERMARK_KEY, save_png
from engine.region import apply_patch
from engine.request import GenerationResult
from engine.watermark import add_patch, mark_generated

log = logging.getLogger("overpaint.cli")


class CliError(EngineError):
    """A problem with the command's files or arguments found after parsing."""


# ----------------------------------------------------------------------------------
# files


def read_image(path: Path) -> np.ndarray:
    """The picture as straight RGBA8, read exactly as the window reads it (engine.core.images:
    the same formats, pixel limit, 16-bit scaling and colour conversions)."""
    return images.read_image(path)


def read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """White (>= 128) = repaint; the mask must be exactly the image's size."""
    rgba = read_image(path)
    h, w = rgba.shape[:2]
    if (w, h) != size:
        raise CliError(
            f"The mask {path} is {w}x{h} but the image is {size[0]}x{size[1]}; "
            "they must be the same size."
        )
    gray = rgba[..., :3].max(axis=2)
    gray = np.where(rgba[..., 3] > 0, gray, 0)
    return np.where(gray >= 128, 255, 0).astype(np.uint8)


def recorded_pictures(
    paths: Sequence[Path],
    hashes: Sequence[str],
    read: Callable[[Path], np.ndarray],
    what: str,
    flag: str,
    labels: Sequence[str] = (),
) -> tuple[np.ndarray, ...]:
    """The pictures `rerun` was given with `flag` for a recorded run's `what`s ("region
    mask"), read in the recorded order; a count that differs, or a picture whose hash is
    not the recorded one, is refused in one sentence. `labels` names each in that
    sentence (a region's prompt)."""
    n = len(hashes)
    if len(paths) != n:
        raise CliError(
            f"The recorded run used {n} {what}{'s' if n > 1 else ''} that the generation "
            f"history does not hold; pass {'them' if n > 1 else 'it'} with {flag} in order."
        )
    pictures = []
    for i, (path, recorded) in enumerate(zip(paths, hashes, strict=True)):
        picture = read(path)
        if recorded and images.picture_hash(picture) != recorded:
            label = f" ({labels[i]!r})" if labels else ""
            raise CliError(
                f"{path} is not {what} {i + 1}{label} of the recorded run (its hash differs); "
                f"pass the same {what.split()[-1]}."
            )
        pictures.append(picture)
    return tuple(pictures)


def output_paths(out: Path, n: int) -> list[Path]:
    if n <= 1:
        return [out]
    suffix = out.suffix or ".png"
    return [out.with_name(f"{out.stem}-{i}{suffix}") for i in range(1, n + 1)]


def check_out_dir(out: Path) -> None:
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"Cannot write {out}: the folder {folder} does not exist.")


def output_picture(result: GenerationResult, base: np.ndarray | None = None) -> np.ndarray:
    """The picture the CLI writes for a result (see `marked_picture`)."""
    return marked_picture(result, base)[0]


def marked_picture(
    result: GenerationResult, base: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, object] | None]:
    """The picture the CLI writes for a result: the patch laid on ``base`` (the whole input
    image), RGB when opaque; and the watermark record for its metadata (None when the
    request asks for no mark).

    Only the patch's pixels carry the mark: everything else stays as the input had it,
    bit for bit (engine.watermark.mark_generated).
    """

    pixels = result.rgba if base is None else apply_patch(base, result.rgba, result.x, result.y)
    record = None
    if result.request.watermark:
        generated = np.zeros(pixels.shape[:2], bool)
        x, y = (0, 0) if base is None else (result.x, result.y)
        rgba = result.rgba
        alpha = rgba[..., 3] if rgba.shape[2] == 4 else np.full(rgba.shape[:2], 255, np.uint8)
        add_patch(generated, alpha, x, y)
        pixels, record = mark_generated(np.ascontiguousarray(pixels), generated)
    if pixels.shape[2] == 4 and (pixels[..., 3] == 255).all():
        pixels = np.ascontiguousarray(pixels[..., :3])
    return pixels, record


def write_results(
    results: Sequence[GenerationResult], out: Path, base: np.ndarray | None = None
) -> list[Path]:
    paths = output_paths(out, len(results))
    for path, res in zip(paths, results, strict=True):
        pixels, record = marked_picture(res, base)
        records = None if record is None else {WATERMARK_KEY: record}
        try:
            save_png(path, pixels, res.parameters, res.request, records)
        except OSError as e:
            raise CliError(f"Cannot write {path}: {e.strerror or e}.") from e
    return paths


# ----------------------------------------------------------------------------------
# progress


class Progress:
    """Step counter on stderr: redrawn in place on a terminal, a few lines otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = -1

    def __call__(self, step: int, total: int, _preview: object) -> None:
        if self.tty:
            filled = int(30 * step / max(total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] step {step}/{total}")
            if step >= total:
                self.stream.write("\n")
        else:
            quarter = (4 * step) // max(total, 1)
            if quarter != self._last or step == total:
                self.stream.write(f"step {step}/{total}\n")
                self._last = quarter
        self.stream.flush()


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Where models are, which device runs them in which precision, and whether the output
    is marked."""
    p.add_argument(
        "--models-dir", action="append", default=[], type=Path, help="extra models folder"
    )
    p.add_argument("--device", choices=("cuda", "mps", "cpu"), default=None)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="on a CPU: auto (bf16 where this processor computes it faster, else fp32), "
        "fp32 or bf16; GPUs run in fp16",
    )
    p.add_argument("--low-memory", action="store_true", help="attention slicing + VAE tiling")
    p.add_argument(
        "--no-watermark", action="store_true", help="do not embed the invisible watermark"
    )


def engine_options(args: argparse.Namespace) -> tuple[tuple[str, object], ...]:
    opts: list[tuple[str, object]] = []
    if getattr(args, "device", None):
        opts.append(("device", args.device))
    if getattr(args, "low_memory", False):
        opts += [("attention_slicing", True), ("vae_tiling", True)]
    return tuple(opts)


def print_warnings(results: Sequence[GenerationResult]) -> None:
    """The first result's warnings on stderr (the engine gives each sample the same ones,
    and a one-time note such as bf16 without hardware comes with the first job only)."""
    for res in results[:1]:
        for warning in res.warnings:
            print(f"warning: {warning}", file=sys.stderr)


def setup_cli_logging(debug: bool) -> None:
    """Log to the log file; on stderr only errors, unless --debug shows the libraries'
    warnings and progress bars and Overpaint's debug records too."""

    setup_logging(debug, console_level=logging.ERROR)


def run_command(command: Callable[[], int], debug: bool) -> int:
    """Run one subcommand with the exit codes every `overpaint` command shares: its own,
    130 on Ctrl-C, 1 with one `error:` line for anything raised (--debug: traceback)."""
    try:
        return command()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except EngineError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        if debug:
            traceback.print_exc()
        else:
            log.debug("unexpected error", exc_info=True)
        lines = str(e).strip().splitlines()
        detail = f": {lines[0]}" if lines else ""
        print(
            f"error: unexpected {type(e).__name__}{detail} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
