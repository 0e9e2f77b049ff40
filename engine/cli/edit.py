"""`overpaint edit`: an instruction edit of a picture without a window, and the reference
pictures `rerun` gives back to one.

`overpaint edit --init-img IN --prompt "make the sky stormy" [--mask M] [--reference IMG]...
--out OUT` builds its job with the window's builder (engine.jobs.prepare_edit_job): the
mask plays the window's selection (only it changes; pixels outside it stay bit-identical),
without one the whole picture is edited, and each --reference is an extra input picture
of the multi-reference models, recorded by its hash. `rerun` finds the pictures in the
generation history, or takes them with --reference-image in the recorded order
(engine.cli.references).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.backends import make_engine
from engine.cli.common import (
    Progress,
    add_engine_options,
    check_out_dir,
    engine_options,
    print_warnings,
    read_image,
    read_mask,
    write_results,
)
from engine.cli.references import reference_sources
from engine.comfy.cli_support import add_server_arg, remote_model, servers_from_args
from engine.core.errors import InvalidRequestError
from engine.family_defaults import model_settings, settings_for
from engine.generation_settings import GenerationSettings
from engine.history.recorder import record_cli_results
from engine.jobs import image_composite, prepare_edit_job
from engine.models import ModelInfo, resolve_model


def add_edit_parser(sub: argparse._SubParsersAction, debug: object) -> None:
    """The `edit` subcommand; `debug` adds the shared --debug flag to a parser."""
    p = sub.add_parser("edit", help="edit a picture by instruction (Kontext, Klein, Qwen-Edit)")
    p.add_argument("--init-img", required=True, type=Path, help="the picture to edit")
    p.add_argument("--prompt", required=True, help='the instruction ("make the sky stormy")')
    p.add_argument("--negative-prompt", default="", help="what to avoid (CFG models)")
    p.add_argument("--mask", type=Path, help="white = the part to edit (default: everything)")
    p.add_argument(
        "--reference",
        dest="references",
        action="append",
        default=[],
        metavar="IMG",
        help="an extra input picture (FLUX.2 Klein, Qwen-Image-Edit Plus; Kontext with a "
        "mask: one); repeatable, in order",
    )
    p.add_argument("--model", default="", help="model path or name (an edit model)")
    p.add_argument("--seed", type=int, default=-1, help="random seed (-1: pick one)")
    p.add_argument(
        "--steps", type=int, default=None, help="default: the model card's (Kontext: 28)"
    )
    p.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="guidance (CFG for Qwen-Edit); default: the model card's (Kontext: 2.5)",
    )
    p.add_argument(
        "--strength", type=float, default=None, help="denoising inside the mask (default 1)"
    )
    p.add_argument(
        "--feather", type=int, default=None, help="feather inside the mask's edge, in pixels"
    )
    p.add_argument("--n-samples", type=int, default=1, help="K>1 writes OUT-1.png ... OUT-K.png")
    add_engine_options(p)
    p.add_argument(
        "--no-history", action="store_true", help="do not record this run in the history"
    )
    add_server_arg(p)
    p.add_argument("--out", required=True, type=Path)
    debug(p)  # type: ignore[operator]


def cmd_edit(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    extra = tuple(args.models_dir)
    servers = servers_from_args(args)
    info = remote_model(servers, args.model) if servers else resolve_model(args.model, extra)
    if args.n_samples < 1:
        raise InvalidRequestError("--n-samples must be at least 1.")
    base = read_image(args.init_img)
    h, w = base.shape[:2]
    mask = read_mask(args.mask, (w, h)) if args.mask is not None else None
    if mask is not None and not mask.any():
        raise InvalidRequestError(
            f"The mask {args.mask} is all black; white marks the part to edit."
        )
    # The window's panel starts from the same numbers; a server's model is known by name
    # only: Kontext's, the edit model most servers have.
    card = model_settings(info) if isinstance(info, ModelInfo) else settings_for("flux-kontext")
    settings = GenerationSettings(
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        steps=card.steps if args.steps is None else args.steps,
        guidance=card.guidance_value if args.guidance is None else args.guidance,
        strength=args.strength,
        feather=args.feather,
        model=args.model or info.name,  # recorded: rerun uses this model
        n_samples=args.n_samples,
    )
    job = prepare_edit_job(
        settings,
        w,
        h,
        image_composite(base),
        selection=mask,
        references=reference_sources(args.references),
        native=info.native_size,
        options=dict(engine_options(args)),
        watermark=not args.no_watermark,
        precision=args.precision,
    )
    results = make_engine(extra, servers).run(job.request, job.inputs, on_progress=Progress())
    print_warnings(results)
    paths = write_results(results, args.out, base)
    if not args.no_history:
        if warning := record_cli_results(results, paths, base, inputs=job.inputs):
            print(f"warning: {warning}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0
