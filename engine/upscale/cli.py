"""`overpaint upscale`: a picture upscaled ×2/×4 or to a size, optionally refined.

    overpaint upscale --init-img IMG (--scale 2|4 | --width W [--height H]) \\
        [--refine-strength F] [--upscaler auto|lanczos|PATH] [--prompt TEXT] \\
        [--model M] [--seed S] [--steps N] [--no-watermark] ... --out OUT

Exit codes as for the other subcommands (engine.cli): 0, 1 with one `error:` line, 2
for usage errors, 130 on Ctrl-C; the output is written atomically once all tiles are done.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from engine.cli.common import (
    CliError,
    Progress,
    add_engine_options,
    check_out_dir,
    engine_options,
    read_image,
)
from engine.core.errors import InvalidRequestError
from engine.generation_settings import GenerationSettings
from engine.jobs import build_request
from engine.local.engine import Engine
from engine.metadata import save_png
from engine.schedulers import SCHEDULER_NAMES
from engine.upscale.run import UpscaleJob, run_upscale, target_size
from engine.watermark import embed_watermark


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}; use 2 or 4") from None
    if value not in (2.0, 4.0):
        raise argparse.ArgumentTypeError(f"the scale must be 2 or 4, not {text}")
    return value


def add_upscale_parser(sub: argparse._SubParsersAction, debug: Callable) -> None:
    """Register the `upscale` subcommand on engine.cli's parser."""
    p = sub.add_parser(
        "upscale",
        help="upscale a picture x2/x4 or to a size, optionally refined in tiles",
        description="Upscale with the Stable Diffusion x4 upscaler when one is installed "
        "(else Lanczos), then optionally refine: img2img at low strength in overlapping "
        "tiles at the model's native size, blended so no tile edge shows.",
    )
    p.add_argument("--init-img", required=True, type=Path, help="the picture to upscale")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--scale", type=_scale, help="2 or 4")
    size.add_argument("--width", type=int, help="target width (alone: keeps the aspect ratio)")
    p.add_argument("--height", type=int, help="target height (with --width, or alone)")
    p.add_argument(
        "--refine-strength",
        type=float,
        default=0.0,
        help="refine the upscaled picture at this denoising strength (0: no refine; "
        "0.2-0.4 adds detail without changing the picture)",
    )
    p.add_argument(
        "--upscaler",
        default="auto",
        help="auto (the SD x4 upscaler when installed, else Lanczos), lanczos, or the "
        "path of an x4 upscaler folder",
    )
    p.add_argument("--prompt", default="", help="what the picture shows (guides refine)")
    p.add_argument("--negative-prompt", default="", help="what to avoid")
    p.add_argument("--model", default="", help="model for refine (default: the default model)")
    p.add_argument("--seed", type=int, default=-1, help="random seed (-1: pick one)")
    p.add_argument("--steps", type=int, default=20, help="steps (refine runs steps x strength)")
    p.add_argument("--guidance", type=float, default=7.0, help="CFG scale")
    p.add_argument("--scheduler", default="Euler a", help=f"one of: {', '.join(SCHEDULER_NAMES)}")
    p.add_argument("--tile", type=int, default=0, help="refine tile side (default: native)")
    add_engine_options(p)
    p.add_argument("--out", required=True, type=Path)
    debug(p)


def cmd_upscale(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    if not 0.0 <= args.refine_strength <= 1.0:
        raise InvalidRequestError(
            f"--refine-strength must be between 0 and 1, not {args.refine_strength:g}."
        )
    if args.tile and args.tile < 64:
        raise InvalidRequestError(f"--tile must be at least 64 pixels, not {args.tile}.")
    image = read_image(args.init_img)
    h, w = image.shape[:2]
    width, height = target_size(w, h, args.scale, args.width, args.height)
    refine = args.refine_strength > 0
    params = GenerationSettings(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        steps=args.steps,
        guidance=args.guidance,
        strength=args.refine_strength if refine else 0.3,
        scheduler=args.scheduler,
        model=args.model,
    )
    request = build_request(
        "img2img",
        params,
        watermark=not args.no_watermark,
        precision=args.precision,
        options=engine_options(args),
    )
    job = UpscaleJob(width, height, request, refine, args.upscaler, refine_tile=args.tile)
    engine = Engine(tuple(args.models_dir))
    result = run_upscale(engine, image, job, on_progress=Progress())
    pixels = result.rgba
    if request.watermark:
        pixels = embed_watermark(pixels)
    if (pixels[..., 3] == 255).all():
        pixels = pixels[..., :3]
    try:
        # No request metadata: `rerun` replays generations, and this is not one.
        save_png(args.out, pixels, result.parameters, None)
    except OSError as e:
        raise CliError(f"Cannot write {args.out}: {e.strerror or e}.") from e
    print(f"{args.out} ({width}x{height}, {result.upscaler}"
          f"{f', {result.tiles} refine tiles' if refine else ''})", file=sys.stderr)  # fmt: skip
    print(args.out)
    return 0
