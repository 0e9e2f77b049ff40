"""`overpaint select`: the object a box or clicks point at, written as a mask PNG.

    overpaint select --init-img IN (--box X,Y,W,H | --point X,Y)... [--negative X,Y]... \\
        [--method auto|grabcut|sam|wand] [--tolerance T] [--segmenter auto|none|PATH] \\
        [--models-dir DIR] --out MASK.png

The mask is 8-bit grey, white on the object, grey on soft edges: `overpaint inpaint
--mask` takes it as it is. Exit codes as for the other subcommands (engine.cli).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from engine.cli.common import CliError, check_out_dir, read_image
from engine.core.atomic_write import atomic_write
from engine.select.objects import DEFAULT_TOLERANCE, METHODS, select_object
from engine.select.prompt import ObjectPrompt
from engine.select.segmenter import load_segmenter, resolve_segmenter


def _numbers(text: str, count: int, what: str) -> tuple[int, ...]:
    try:
        values = tuple(round(float(v)) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        shape = "X,Y,W,H" if count == 4 else "X,Y"
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}; write it as {shape}")
    return values


def _box(text: str) -> tuple[int, ...]:
    return _numbers(text, 4, "box")


def _point(text: str) -> tuple[int, ...]:
    return _numbers(text, 2, "point")


def add_select_parser(sub: argparse._SubParsersAction, debug: Callable) -> None:
    """Register the `select` subcommand on engine.cli's parser."""
    p = sub.add_parser(
        "select",
        help="select an object by a box or clicks and write its mask",
        description="Select Object without a window: a segmentation model (SAM, SAM 2) "
        "when one is installed, else OpenCV GrabCut, or the magic wand at a point.",
    )
    p.add_argument("--init-img", required=True, type=Path, help="the picture")
    p.add_argument("--box", type=_box, help="a box around the object: X,Y,W,H")
    p.add_argument("--point", type=_point, action="append", default=[],
                   help="a point on the object: X,Y (repeatable)")  # fmt: skip
    p.add_argument("--negative", type=_point, action="append", default=[],
                   help="a point not on the object: X,Y (repeatable)")  # fmt: skip
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto: the segmentation model when installed, else grabcut")  # fmt: skip
    p.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE,
                   help="the magic wand's colour tolerance (0-255)")  # fmt: skip
    p.add_argument("--segmenter", default="auto",
                   help="auto, none, or the path of a SAM / SAM 2 folder")  # fmt: skip
    p.add_argument("--models-dir", action="append", default=[], type=Path)
    p.add_argument("--out", required=True, type=Path, help="the mask PNG to write")
    debug(p)


def cmd_select(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    if args.box is None and not args.point:
        raise CliError("Give --box X,Y,W,H or at least one --point X,Y on the object.")
    if not 0 <= args.tolerance <= 255:
        raise CliError(f"--tolerance must be between 0 and 255, not {args.tolerance}.")
    prompt = ObjectPrompt(args.box, tuple(args.point), tuple(args.negative))
    image = read_image(args.init_img)
    segmenter = None
    if args.method in ("auto", "sam"):
        folder = resolve_segmenter(args.segmenter, tuple(args.models_dir))
        segmenter = load_segmenter(folder) if folder is not None else None
    mask = select_object(image, prompt, args.method, segmenter, args.tolerance)
    try:
        with atomic_write(args.out) as tmp:
            Image.fromarray(mask, mode="L").save(tmp, format="PNG")
    except OSError as e:
        raise CliError(f"Cannot write {args.out}: {e.strerror or e}.") from e
    used = "wand" if args.method == "wand" else "sam" if segmenter else "grabcut"
    share = float((mask >= 128).mean()) * 100
    print(f"{args.out} ({used}, {share:.1f}% of the picture selected)", file=sys.stderr)
    print(args.out)
    return 0
