"""The command line's regional prompts: `--region MASK.png:PROMPT[:NEGATIVE]` on txt2img,
img2img and inpaint, `--region-mask` on rerun.

A region mask is a picture of the canvas's size (the input image, or the txt2img size):
white (>= 128) marks where the region's prompt applies. It is cropped at the request's
context box, as the window crops a region layer's coverage, and its hash is taken after
that, which is what lets `rerun` recognise the same file again. A mask with no white at
all is refused in one sentence; one whose white lies outside the box takes no part.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from engine.cli.common import CliError, read_mask, recorded_pictures
from engine.jobs import crop_rgba
from engine.regions.jobs import LayerRegion, layer_regions
from engine.regions.spec import RegionSpec, parse_region
from engine.request import Box, GenerationInputs, GenerationRequest


def add_region_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="MASK.png:PROMPT[:NEGATIVE]",
        help="a prompt (and negative prompt) that applies only where MASK is white; the "
        "--prompt is added to every region and alone covers the rest; repeatable",
    )


def add_rerun_region_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--region-mask",
        action="append",
        default=[],
        type=Path,
        help="a region mask the recorded run used, when the generation history does not "
        "hold it (repeatable, in the recorded order)",
    )


def recorded_mask(path: Path, request: GenerationRequest) -> np.ndarray:
    """The mask at `path` (the canvas's size) cropped at the recorded run's context box,
    as the run cropped it (--region-mask and --reference-mask on rerun)."""
    mask = read_mask(path, request.canvas_size)
    return mask if request.region is None else crop_rgba(mask, request.region)


def attach_regions(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> tuple[GenerationRequest, GenerationInputs]:
    """The request and inputs with the --region specs and masks (cropped) added."""
    values = list(getattr(args, "region", []) or [])
    if not values:
        return request, inputs
    width, height = request.canvas_size
    sources = []
    for value in values:
        try:
            path, prompt, negative = parse_region(value)
        except ValueError as e:
            raise CliError(f"--region {e}.") from None
        mask = read_mask(Path(path), (width, height))
        if not mask.any():
            raise CliError(
                f"The region mask {path} is all black; white marks where its prompt applies."
            )
        sources.append(
            LayerRegion(RegionSpec(prompt, negative), lambda box, m=mask: crop_rgba(m, box))
        )
    context = request.region or Box(0, 0, width, height)
    specs, masks = layer_regions(sources, context)
    request = request.replace(regions=specs)
    return request, dataclasses.replace(inputs, region_masks=masks)


def rerun_regions(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> GenerationInputs:
    """The inputs with the recorded regions' masks, given with --region-mask in the
    recorded order when the history did not hold them; a mask that is missing or not the
    recorded one is refused."""
    n = len(request.regions)
    if not n or len(inputs.region_masks) == n:
        return inputs
    masks = recorded_pictures(
        list(getattr(args, "region_mask", []) or []),
        [spec.mask_hash for spec in request.regions],
        lambda path: recorded_mask(path, request),
        "region mask",
        "--region-mask",
        labels=[spec.prompt for spec in request.regions],
    )
    return dataclasses.replace(inputs, region_masks=masks)
