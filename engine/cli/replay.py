"""`overpaint rerun` and `overpaint watermark`: replaying a picture's recorded request
(on the inputs given, or on those the generation history kept) and finding its mark."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.backends import make_engine
from engine.cli.common import (
    CliError,
    Progress,
    check_out_dir,
    print_warnings,
    read_image,
    read_mask,
    write_results,
)
from engine.cli.references import rerun_references
from engine.cli.regions import rerun_regions
from engine.comfy.cli_support import servers_from_args
from engine.control.cli import rerun_controls
from engine.history.config import open_history
from engine.history.pictures import needs_pictures
from engine.history.replay import recorded_job
from engine.jobs import inputs_for
from engine.metadata import REPLAY_KEY, read_record, read_request, read_watermark_record
from engine.request import Box, GenerationInputs, GenerationRequest
from engine.watermark import find_watermark


def cmd_rerun(args: argparse.Namespace) -> int:
    check_out_dir(args.out)
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
    recorded = None
    if args.init_img is None and not args.control_image and needs_pictures(request):
        # The editor's (and the CLI's) input pictures are kept in the history.
        recorded = _recorded_inputs(args.image, request, replay.get("history_entry"))
    if recorded is not None:
        inputs, base = recorded
    else:
        if request.mode != "txt2img":
            if args.init_img is None:
                raise CliError(
                    f"{args.image} was made with {request.mode} on a picture that is not in "
                    "the generation history; pass that picture with --init-img."
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
    inputs = rerun_references(args, request, inputs)
    inputs = rerun_regions(args, request, inputs)
    if args.model:
        request = request.replace(model=args.model)
    engine = make_engine(tuple(args.models_dir), servers_from_args(args))
    results = engine.run(request, inputs, on_progress=Progress())
    print_warnings(results)  # e.g. a bf16 record replayed where bf16 is only emulated
    for path in write_results(results, args.out, base):
        print(path)
    return 0


def _recorded_inputs(
    image: Path, request: GenerationRequest, entry_id: object
) -> tuple[GenerationInputs, np.ndarray] | None:
    """The input pictures the history kept for the run that made ``image``, and the whole
    picture to lay the new result on: a CLI run's input, or for an editor export the
    export itself with the pixels the generation ran on put back under it. None when the
    history holds no such run (the caller then asks for the pictures)."""

    store = open_history(force=True)
    if store is None:
        return None
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
        return None
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
