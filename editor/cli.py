"""`overpaint flatten IN.ora OUT.png`: composite a project without a window, for scripts.

Exit status 0 on success, 1 with one `error:` line when the input cannot be read or the
output cannot be written, 2 for wrong usage (argparse). Repairs made while reading the
project are printed as `warning:` lines.
"""

from __future__ import annotations

import argparse
import logging
import sys

from editor.io.errors import FileError
from editor.io.export import export_png
from editor.io.images import DEFAULT_MAX_PIXELS
from editor.io.project import load_document


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="overpaint flatten",
        description="Composite the visible layers of an OpenRaster (.ora) project into a PNG. "
        "The PNG carries the generation parameters of the topmost generated layer "
        "and, when it has one, the invisible watermark.",
    )
    parser.add_argument("input", help="the .ora project (an image file also works)")
    parser.add_argument("output", help="the PNG to write (replaced atomically)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also print the technical details logged"
    )
    parser.add_argument(
        "--no-watermark",
        action="store_true",
        help="do not embed the invisible watermark (added when the picture holds a generation)",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse canvases and layers larger than this (default {DEFAULT_MAX_PIXELS})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["flatten"]:
        argv = argv[1:]
    args = _parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        # Details go to the log; without a handler Python would print warnings to stderr,
        # and scripts expect exactly one `error:` line.
        logging.getLogger().addHandler(logging.NullHandler())
    warnings: list[str] = []
    try:
        document = load_document(args.input, max_pixels=args.max_pixels, warnings=warnings)
        for note in warnings:
            print(f"warning: {note}", file=sys.stderr)
        export_png(document, args.output, watermark=not args.no_watermark)
    except FileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
