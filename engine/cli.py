"""`overpaint txt2img|img2img|inpaint|fill|rerun|watermark|models`: the engine without a window.

Exit codes: 0 success, 1 error (one `error: ...` line on stderr; --debug adds the
traceback), 2 usage error, 130 Ctrl-C. Outputs are written only once every sample is
done, each atomically, so an interrupted run leaves no partial file.

img2img, inpaint and fill build their jobs with the window's builder (engine.jobs) from
pictures read by the window's reader (engine.images), and `rerun` crops its inputs the
same way, so a request gives the same pixels from the window, the CLI or a rerun. The
written picture is the patch laid on the input, then watermarked as a whole.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.comfy.cli_support import add_server_arg, remote_model, servers_from_args
from engine.control_cli import (
    add_control_args,
    add_rerun_control_args,
    attach_controls,
    rerun_controls,
)
from engine.errors import EngineError, InvalidRequestError
from engine.request import Box, GenerationInputs, GenerationRequest, GenerationResult
from engine.schedulers import SCHEDULER_NAMES

log = logging.getLogger("overpaint.cli")


class CliError(EngineError):
    """A problem with the command's files or arguments found after parsing."""


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
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=7.0, help="CFG scale")
    p.add_argument("--scheduler", default="Euler a", help=f"one of: {', '.join(SCHEDULER_NAMES)}")
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


def _lora(value: str) -> tuple[str, float]:
    from engine.loras import parse_lora_arg

    try:
        return parse_lora_arg(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _context(value: str) -> str:
    from engine.region import context_padding

    try:
        context_padding(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _inpaint_options(p: argparse.ArgumentParser) -> None:
    from engine.inpaint_modes import INPAINT_MODES

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


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """Where models are, which device runs them, and whether the output is marked."""
    p.add_argument(
        "--models-dir", action="append", default=[], type=Path, help="extra models folder"
    )
    p.add_argument("--device", choices=("cuda", "mps", "cpu"), default=None)
    p.add_argument("--low-memory", action="store_true", help="attention slicing + VAE tiling")
    p.add_argument(
        "--no-watermark", action="store_true", help="do not embed the invisible watermark"
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
    add_server_arg(p)
    p.add_argument("--models-dir", action="append", default=[], type=Path)
    _debug(p)

    p = sub.add_parser("watermark", help="print the invisible watermark of an image")
    p.add_argument("image", type=Path)
    _debug(p)

    from engine.model_manager.cli import add_models_parser

    add_models_parser(sub)  # list, install, remove
    from engine.upscale_cli import add_upscale_parser

    add_upscale_parser(sub, _debug)
    return parser


# ----------------------------------------------------------------------------------
# files


def read_image(path: Path) -> np.ndarray:
    """The picture as straight RGBA8, read exactly as the window reads it (engine.images:
    the same formats, pixel limit, 16-bit scaling and colour conversions)."""
    from engine.images import read_image as read

    return read(path)


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


def output_paths(out: Path, n: int) -> list[Path]:
    if n <= 1:
        return [out]
    suffix = out.suffix or ".png"
    return [out.with_name(f"{out.stem}-{i}{suffix}") for i in range(1, n + 1)]


def _check_out_dir(out: Path) -> None:
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
    from engine.region import apply_patch

    pixels = result.rgba if base is None else apply_patch(base, result.rgba, result.x, result.y)
    record = None
    if result.request.watermark:
        from engine.watermark import add_patch, mark_generated

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
    from engine.metadata import WATERMARK_KEY, save_png

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


# ----------------------------------------------------------------------------------
# commands


def _options(args: argparse.Namespace) -> tuple[tuple[str, object], ...]:
    opts: list[tuple[str, object]] = []
    if getattr(args, "device", None):
        opts.append(("device", args.device))
    if getattr(args, "low_memory", False):
        opts += [("attention_slicing", True), ("vae_tiling", True)]
    return tuple(opts)


def _params(args: argparse.Namespace) -> dict[str, object]:
    """The generation settings, under the names the window's generation panel uses."""
    names = ("prompt", "negative_prompt", "seed", "steps", "guidance", "strength")
    names += ("inpaint_mode", "grow", "feather", "context", "color_match", "soft_edges")
    params: dict[str, object] = {n: getattr(args, n) for n in names if hasattr(args, n)}
    params.update(scheduler=args.scheduler, n_samples=args.n_samples)
    params["loras"] = tuple(getattr(args, "loras", ()))
    return params


def _generate(args: argparse.Namespace, mode: str) -> int:
    from engine.backends import make_engine
    from engine.jobs import build_request, image_composite, prepare_job
    from engine.loras import check_loras
    from engine.models import resolve_model

    _check_out_dir(args.out)
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
    params = {**_params(args), "mode": mode, "model": args.model or info.name}
    base = None
    if mode == "txt2img":
        request = build_request(
            mode,
            params,
            width=args.width or info.native_size,
            height=args.height or info.native_size,
            watermark=not args.no_watermark,
            options=_options(args),
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
            options=dict(_options(args)),
            watermark=not args.no_watermark,
        )
        request, inputs = job.request, job.inputs
    request, inputs = attach_controls(args, request, inputs, extra)
    results = make_engine(extra, servers).run(request, inputs, on_progress=Progress())
    for res in results[:1]:
        for warning in res.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    paths = write_results(results, args.out, base)
    if not args.no_history:
        from engine.history.recorder import record_cli_results

        if warning := record_cli_results(results, paths, base, inputs=inputs):
            print(f"warning: {warning}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


def cmd_fill(args: argparse.Namespace) -> int:
    from engine.jobs import FILL_NATIVE, image_composite, prepare_job
    from engine.pipelines import Engine

    _check_out_dir(args.out)
    image = read_image(args.init_img)
    h, w = image.shape[:2]
    mask = read_mask(args.mask, (w, h))
    job = prepare_job(
        {"mode": "fill"},
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


def cmd_rerun(args: argparse.Namespace) -> int:
    from engine.backends import make_engine
    from engine.history.pictures import needs_pictures
    from engine.jobs import inputs_for
    from engine.metadata import REPLAY_KEY, read_record, read_request

    _check_out_dir(args.out)
    try:
        request = read_request(args.image)
        replay = read_record(args.image, REPLAY_KEY) or {}
    except FileNotFoundError as e:
        raise CliError(f"Image {args.image} does not exist.") from e
    except OSError as e:
        raise CliError(f"Cannot read image {args.image}: it is not a readable image file.") from e
    if isinstance(replay.get("not_single"), str):
        raise CliError(f"{args.image} cannot be re-run: {replay['not_single']}.")
    if request is None:
        raise CliError(
            f"{args.image} carries no Overpaint request metadata, so it cannot be re-run."
        )
    base = mask = None
    if args.init_img is None and needs_pictures(request):
        # The editor's (and the CLI's) input pictures are kept in the history.
        inputs, base = _recorded_inputs(args.image, request, replay.get("history_entry"))
    else:
        if request.mode != "txt2img":
            if args.init_img is None:
                raise CliError(
                    f"{args.image} was made with {request.mode}; pass the same --init-img."
                )
            base = read_image(args.init_img)
            h, w = base.shape[:2]
            if request.canvas_width and (w, h) != (request.canvas_width, request.canvas_height):
                raise CliError(
                    f"{args.init_img} is {w}x{h}, but the recorded run used a "
                    f"{request.canvas_width}x{request.canvas_height} image."
                )
            if request.mode in ("inpaint", "outpaint", "fill"):
                if args.mask is None:
                    raise CliError(
                        f"{args.image} was made with {request.mode}; pass the same --mask."
                    )
            if args.mask is not None:
                mask = read_mask(args.mask, (w, h))
        inputs = rerun_controls(args, request, inputs_for(request, base, mask))
    if args.model:
        request = request.replace(model=args.model)
    engine = make_engine(tuple(args.models_dir), servers_from_args(args))
    results = engine.run(request, inputs, on_progress=Progress())
    for path in write_results(results, args.out, base):
        print(path)
    return 0


def _recorded_inputs(
    image: Path, request: GenerationRequest, entry_id: object
) -> tuple[GenerationInputs, np.ndarray]:
    """The input pictures the history kept for the run that made ``image``, and the whole
    picture to lay the new result on: a CLI run's input, or for an editor export the
    export itself with the pixels the generation ran on put back under it."""
    from engine.history.config import open_history
    from engine.history.replay import recorded_job

    store = open_history(force=True)
    if store is None:
        raise CliError(f"{image} was made with {request.mode}; pass the same --init-img.")
    whole = read_image(image)
    job = None
    try:
        ids = [entry_id] if isinstance(entry_id, int) else []
        for candidate in dict.fromkeys([*ids, *store.find_request(request)]):
            entry = store.get(candidate)
            if entry is None or entry.request != request:  # ids are reused after a clear
                continue
            job = recorded_job(store, entry)
            # The same settings may have run on another picture: a CLI entry's whole
            # input must match the image outside the region the run repainted.
            if job.base is None or _same_outside(whole, job.base, request.region):
                break
            job = None
    finally:
        store.close()
    if job is None:
        raise CliError(
            f"{image} was made with {request.mode} on a picture that is not in the "
            "generation history; pass that picture with --init-img."
        )
    if job.base is not None:
        return job.inputs, job.base
    h, w = whole.shape[:2]
    if request.canvas_width and (w, h) != (request.canvas_width, request.canvas_height):
        raise CliError(
            f"{image} is {w}x{h}, but its generation ran on a {request.canvas_width}x"
            f"{request.canvas_height} picture; pass that picture with --init-img."
        )
    region, crop = request.region, job.inputs.image
    if region is not None and crop is not None:
        # Laying the result over its own first copy would blend twice where it is soft.
        whole = whole.copy()
        x0, y0 = max(region.x, 0), max(region.y, 0)
        x1, y1 = min(region.right, w), min(region.bottom, h)
        part = crop[y0 - region.y : y1 - region.y, x0 - region.x : x1 - region.x]
        whole[y0:y1, x0:x1, : part.shape[2]] = part
    return job.inputs, whole


def _same_outside(image: np.ndarray, base: np.ndarray, region: Box | None) -> bool:
    if image.shape[:2] != base.shape[:2]:
        return False
    outside = np.ones(image.shape[:2], bool)
    if region is not None:
        outside[
            max(region.y, 0) : max(region.bottom, 0), max(region.x, 0) : max(region.right, 0)
        ] = False
    channels = min(image.shape[2], base.shape[2])
    return bool(np.array_equal(image[outside][:, :channels], base[outside][:, :channels]))


def cmd_watermark(args: argparse.Namespace) -> int:
    from engine.metadata import read_watermark_record
    from engine.watermark import find_watermark

    rgba = read_image(args.image)
    record = read_watermark_record(args.image) or {}
    payload = find_watermark(np.ascontiguousarray(rgba[..., :3]), _record_box(record, rgba))
    if payload is None:
        skipped = record.get("skipped")
        why = (
            f" ({skipped[0].lower()}{skipped[1:].rstrip('.')})" if isinstance(skipped, str) else ""
        )
        print(f"no watermark found in {args.image}{why}")
        return 1
    print(payload)
    return 0


def _record_box(record: dict[str, object], rgba: np.ndarray) -> Box | None:
    """The box a watermark record names, when it lies inside the picture."""
    box = record.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box)):
        return None
    x, y, w, h = box
    if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > rgba.shape[1] or y + h > rgba.shape[0]:
        return None
    return Box(x, y, w, h)


def cmd_models(args: argparse.Namespace) -> int:
    from engine.models import discover_models, model_dirs

    if servers_from_args(args):
        from engine.comfy.cli_support import list_server_models

        return list_server_models(servers_from_args(args))

    models = discover_models(tuple(args.models_dir))
    if not models:
        folders = ", ".join(str(d) for d in model_dirs(tuple(args.models_dir)))
        print(f"no models found (looked in {folders} and the Hugging Face cache)", file=sys.stderr)
        return 0
    for info in models:
        print(f"{info.name}\t{info.family}\t{info.kind}\t{info.path}")
    return 0


COMMANDS = {
    "txt2img": lambda a: _generate(a, "txt2img"),
    "img2img": lambda a: _generate(a, "img2img"),
    "inpaint": lambda a: _generate(a, "inpaint"),
    "fill": cmd_fill,
    "rerun": cmd_rerun,
    "watermark": cmd_watermark,
    "models": lambda a: _models(a),
    "upscale": lambda a: _upscale(a),
}


def _upscale(args: argparse.Namespace) -> int:
    from engine.upscale_cli import cmd_upscale

    return cmd_upscale(args)


def _models(args: argparse.Namespace) -> int:
    from engine.model_manager.cli import run_models

    return run_models(args, cmd_models)


def _quiet_libraries(debug: bool, uses_diffusers: bool) -> None:
    """Log to the log file; on stderr only errors, unless --debug shows the libraries'
    warnings and progress bars and Overpaint's debug records too."""
    from engine.log_setup import setup_logging

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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help exits 0, usage errors 2
        return int(e.code or 0)
    debug = bool(getattr(args, "debug", False))

    def command() -> int:
        _quiet_libraries(debug, args.command not in ("watermark", "models", "fill"))
        return COMMANDS[args.command](args)

    return run_command(command, debug)
