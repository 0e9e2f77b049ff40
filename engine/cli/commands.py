"""`overpaint txt2img|img2img|inpaint|edit|fill|rerun|watermark|models|upscale|select`:
the engine without a window.

Exit codes: 0 success, 1 error (one `error: ...` line on stderr; --debug adds the
traceback), 2 usage error, 130 Ctrl-C. Outputs are written only once every sample is
done, each atomically, so an interrupted run leaves no partial file.

img2img, inpaint and fill build their jobs with the window's builder (engine.jobs) from
pictures read by the window's reader (engine.core.images), and `rerun` crops its inputs the
same way, so a request gives the same pixels from the window, the CLI or a rerun. What the
commands share is in engine.cli.common; `rerun` and `watermark` are in engine.cli.replay,
`edit` (an instruction edit, the same builder's prepare_edit_job) in engine.cli.edit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.backends import make_engine
from engine.cli.common import (
    Progress,
    add_engine_options,
    check_out_dir,
    engine_options,
    print_warnings,
    read_image,
    read_mask,
    run_command,
    setup_cli_logging,
    write_results,
)
from engine.cli.edit import add_edit_parser, cmd_edit
from engine.cli.references import (
    add_reference_args,
    add_rerun_reference_args,
    attach_references,
)
from engine.cli.regions import add_region_args, add_rerun_region_args, attach_regions
from engine.cli.replay import cmd_rerun, cmd_watermark
from engine.comfy.cli_support import (
    add_server_arg,
    list_server_models,
    remote_model,
    servers_from_args,
)
from engine.comfy.server_models import family_from_name
from engine.control.cli import add_control_args, add_rerun_control_args, attach_controls
from engine.core.errors import InvalidRequestError
from engine.family_defaults import model_settings, settings_for
from engine.generation_settings import GenerationSettings
from engine.history.recorder import record_cli_results
from engine.inpaint_modes import INPAINT_MODES
from engine.jobs import FILL_NATIVE, build_request, image_composite, prepare_job
from engine.local.engine import Engine
from engine.lora.library import check_loras, parse_lora_arg
from engine.model_manager.cli import add_models_parser, run_models
from engine.models import (
    ModelInfo,
    discover_models,
    model_dirs,
    resolve_model,
    split_model_problems,
)
from engine.region import context_padding
from engine.request import GenerationInputs
from engine.schedulers import FLOW_SCHEDULER_NAMES, SCHEDULER_NAMES
from engine.select.cli import add_select_parser, cmd_select
from engine.upscale.cli import add_upscale_parser, cmd_upscale

# ----------------------------------------------------------------------------------
# argument parsing


def _common(p: argparse.ArgumentParser, prompt: bool = True) -> None:
    if prompt:
        p.add_argument("--prompt", required=True, help="what to paint")
        p.add_argument("--negative-prompt", default="", help="what to avoid")
    p.add_argument("--model", default="", help="model path or name (default: the default model)")
    p.add_argument(
        "--lora",
        dest="loras",
        action="append",
        default=[],
        type=_lora,
        metavar="PATH_OR_NAME:WEIGHT",
        help="apply a LoRA (weight -2..2, default 1); repeat for several",
    )
    p.add_argument("--seed", type=int, default=-1, help="random seed (-1: pick one)")
    p.add_argument("--steps", type=int, default=None, help="default: the model's own")
    p.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="CFG scale, or FLUX's distilled guidance (default: the model's own)",
    )
    p.add_argument(
        "--scheduler",
        default="Euler a",
        help=f"one of: {', '.join(SCHEDULER_NAMES)}; flow-matching models (FLUX, SD 3.5, "
        f"Qwen-Image, Z-Image, Chroma): {', '.join(FLOW_SCHEDULER_NAMES)}",
    )
    p.add_argument(
        "--shift",
        type=float,
        default=0.0,
        help="flow-matching models (FLUX, SD 3.5, ...): the sampler's sigma shift (0: the model's own)",
    )
    p.add_argument(
        "--width", type=int, default=None, help="txt2img size (default: the model's native size)"
    )
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--n-samples", type=int, default=1, help="K>1 writes OUT-1.png ... OUT-K.png")
    add_engine_options(p)
    p.add_argument(
        "--no-history",
        action="store_true",
        help="do not record this run in the generation history",
    )
    add_server_arg(p)
    add_control_args(p)
    add_region_args(p)
    add_reference_args(p)


def _lora(value: str) -> tuple[str, float]:
    try:
        return parse_lora_arg(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _context(value: str) -> str:
    try:
        context_padding(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _inpaint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--inpaint-mode",
        choices=INPAINT_MODES,
        default="auto",
        help="how the masked area is pre-filled and repainted (auto: picked from the mask, "
        "the pixels under it and the prompt)",
    )
    p.add_argument(
        "--strength",
        type=float,
        default=None,
        help="denoising strength (default: the inpaint mode's: remove 0.3, add/expand/"
        "replace-background 1.0, refine 0.75)",
    )
    p.add_argument("--grow", type=int, default=0, help="grow (or, negative, shrink) the mask")
    p.add_argument(
        "--feather",
        "--mask-blur",
        dest="feather",
        type=int,
        default=None,
        help="feather radius in pixels (default: a tenth of the mask's diagonal, 4 to 48)",
    )
    p.add_argument(
        "--context",
        type=_context,
        default="auto",
        help="surroundings the model sees: auto, mask (the mask box), whole (the picture) "
        "or a number of pixels around the mask",
    )
    p.add_argument(
        "--no-color-match",
        dest="color_match",
        action="store_false",
        help="do not match the repainted colours to the surroundings",
    )
    p.add_argument(
        "--hard-edges",
        dest="soft_edges",
        action="store_false",
        help="binary mask: no soft inpainting and no feather",
    )


def _debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show tracebacks and engine logs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="overpaint", description="Overpaint without a window.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("txt2img", help="generate an image from a prompt")
    _common(p)
    p.add_argument("--out", required=True, type=Path)
    _debug(p)

    p = sub.add_parser("img2img", help="repaint an image guided by a prompt")
    p.add_argument("--init-img", required=True, type=Path)
    p.add_argument("--strength", type=float, default=0.75)
    _common(p)
    p.add_argument("--out", required=True, type=Path)
    _debug(p)

    p = sub.add_parser("inpaint", help="repaint the white part of a mask")
    p.add_argument("--init-img", required=True, type=Path)
    p.add_argument("--mask", required=True, type=Path, help="white = repaint")
    _inpaint_options(p)
    _common(p)
    p.add_argument("--out", required=True, type=Path)
    _debug(p)

    p = sub.add_parser("fill", help="remove the masked part with classical inpainting")
    p.add_argument("--init-img", required=True, type=Path)
    p.add_argument("--mask", required=True, type=Path, help="white = fill")
    p.add_argument("--method", choices=("telea", "ns"), default="telea")
    p.add_argument("--out", required=True, type=Path)
    _debug(p)

    p = sub.add_parser("rerun", help="regenerate an image exactly from its PNG metadata")
    p.add_argument("image", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--init-img", type=Path, help="the input image (img2img/inpaint runs)")
    p.add_argument("--mask", type=Path, help="the mask (inpaint runs)")
    p.add_argument("--model", default=None, help="use this model instead of the recorded one")
    add_rerun_control_args(p)
    add_rerun_reference_args(p)
    add_rerun_region_args(p)
    add_server_arg(p)
    p.add_argument("--models-dir", action="append", default=[], type=Path)
    _debug(p)

    p = sub.add_parser("watermark", help="print the invisible watermark of an image")
    p.add_argument("image", type=Path)
    _debug(p)

    add_models_parser(sub)  # list, install, remove
    add_upscale_parser(sub, _debug)
    add_edit_parser(sub, _debug)
    add_select_parser(sub, _debug)
    return parser


# ----------------------------------------------------------------------------------
# commands


def _settings(args: argparse.Namespace, mode: str, model: str, info: Any) -> GenerationSettings:
    """The generation settings the arguments give (the window's panel makes the same); the
    steps and guidance not given are the model's own, as the panel starts from (a turbo
    model's few steps without CFG, FLUX dev's distilled 3.5, SD's 20 at 7)."""
    names = ("prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "shift")
    names += ("inpaint_mode", "grow", "feather", "context", "color_match", "soft_edges")
    given = {n: getattr(args, n) for n in names if hasattr(args, n)}  # per command
    # A server's model is known by its file name only (engine.comfy.server_models).
    own = (
        model_settings(info)
        if isinstance(info, ModelInfo)
        else settings_for(family_from_name(info.name) or "sd1", info.name)
    )
    if given.get("steps") is None:
        given["steps"] = own.steps
    if given.get("guidance") is None:
        given["guidance"] = own.guidance_value
    return GenerationSettings(
        **given,
        mode=mode,
        model=model,
        scheduler=args.scheduler,
        n_samples=args.n_samples,
        loras=tuple(getattr(args, "loras", ())),
    )


def _generate(args: argparse.Namespace, mode: str) -> int:
    check_out_dir(args.out)
    extra = tuple(args.models_dir)
    servers = servers_from_args(args)
    if servers:  # the model (and its LoRAs) are the server's; a dead URL fails here
        info = remote_model(servers, args.model)
    else:
        info = resolve_model(args.model, extra)
        check_loras(args.loras, info, extra)  # before the model loads: fail in a blink
    if args.n_samples < 1:
        raise InvalidRequestError("--n-samples must be at least 1.")
    # Recorded so `rerun` uses this model even if the default changes later.
    params = _settings(args, mode, args.model or info.name, info)
    base = None
    if mode == "txt2img":
        request = build_request(
            mode,
            params,
            width=args.width or info.native_size,
            height=args.height or info.native_size,
            watermark=not args.no_watermark,
            precision=args.precision,
            options=engine_options(args),
        )
        inputs = GenerationInputs()
    else:
        # The window's job builder: the same region plan, crops and feather.
        base = read_image(args.init_img)
        h, w = base.shape[:2]
        mask = read_mask(args.mask, (w, h)) if mode == "inpaint" else None
        if mask is not None and not mask.any():
            raise InvalidRequestError(
                f"The mask {args.mask} is all black; white marks the area to repaint."
            )
        job = prepare_job(
            params,
            w,
            h,
            image_composite(base),
            mask=mask,
            native=info.native_size,
            options=dict(engine_options(args)),
            watermark=not args.no_watermark,
            precision=args.precision,
        )
        request, inputs = job.request, job.inputs
    request, inputs = attach_controls(args, request, inputs, extra)
    request, inputs = attach_regions(args, request, inputs)
    request, inputs = attach_references(args, request, inputs)
    results = make_engine(extra, servers).run(request, inputs, on_progress=Progress())
    print_warnings(results)
    paths = write_results(results, args.out, base)
    if not args.no_history:
        if warning := record_cli_results(results, paths, base, inputs=inputs):
            print(f"warning: {warning}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def cmd_fill(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
    image = read_image(args.init_img)
    h, w = image.shape[:2]
    mask = read_mask(args.mask, (w, h))
    job = prepare_job(
        GenerationSettings(mode="fill"),
        w,
        h,
        image_composite(image),
        mask=mask,
        native=FILL_NATIVE,
        options={"fill_method": args.method},
        watermark=False,
    )
    results = Engine().run(job.request, job.inputs)
    for path in write_results(results, args.out, image):
        print(path)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    if servers_from_args(args):
        return list_server_models(servers_from_args(args))

    models = discover_models(tuple(args.models_dir))
    if not models:
        folders = ", ".join(str(d) for d in model_dirs(tuple(args.models_dir)))
        print(f"no models found (looked in {folders} and the Hugging Face cache)", file=sys.stderr)
        return 0
    for info in models:
        print(f"{info.name}\t{info.family}\t{info.kind}\t{info.path}")
    # Why a transformer file in those folders is not in the list (a part missing, ...).
    for problem in split_model_problems(tuple(args.models_dir)):
        print(f"note: {problem}", file=sys.stderr)
    return 0


COMMANDS = {
    "txt2img": lambda a: _generate(a, "txt2img"),
    "img2img": lambda a: _generate(a, "img2img"),
    "inpaint": lambda a: _generate(a, "inpaint"),
    "fill": cmd_fill,
    "rerun": cmd_rerun,
    "watermark": cmd_watermark,
    "models": lambda a: _models(a),
    "upscale": cmd_upscale,
    "edit": cmd_edit,
    "select": cmd_select,
}


def _models(args: argparse.Namespace) -> int:
    return run_models(args, cmd_models)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help exits 0, usage errors 2
        return int(e.code or 0)
    debug = bool(getattr(args, "debug", False))

    def command() -> int:
        setup_cli_logging(debug)
        return COMMANDS[args.command](args)

    return run_command(command, debug)
