"""The command line's reference pictures: `--reference IMAGE[:WEIGHT[:KIND[:START:END]]]`
on txt2img, img2img and inpaint, repeatable, each steering the picture through an
IP-Adapter (on a ComfyUI server with a FLUX.1 model: Redux) as a reference layer does in
the window (KIND: reference, style or composition; START:END the fraction of the steps it
acts on); `overpaint edit` reads its extra pictures with the same `reference_sources`.

The picture is read by the window's reader and recorded by its hash; `rerun` finds it in
the generation history or takes it again with --reference-image (`rerun_references`),
as it does an Edit's extra pictures.

`--reference-mask MASK.png` limits a reference to where MASK is white, as a region layer
limits a reference layer in the window: one per --reference, in the same order, `none`
for one that covers the whole picture (trailing ones may be left out). A mask is read and
cropped at the context box as a --region mask is (engine.cli.regions), and recorded by
the crop's hash; `rerun` takes the regional ones again with --reference-mask in order
(`none` entries are skipped, so the first run's list works as it is).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from engine.cli.common import CliError, read_image, read_mask, recorded_pictures
from engine.cli.regions import recorded_mask
from engine.core.errors import InvalidRequestError
from engine.jobs import crop_rgba
from engine.reference.jobs import LayerReference, layer_references
from engine.reference.spec import parse_reference
from engine.request import Box, GenerationInputs, GenerationRequest

# The --reference-mask value that means "the whole picture".
WHOLE = "none"


def add_reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reference",
        dest="reference_pictures",
        action="append",
        default=[],
        metavar="IMAGE[:WEIGHT[:KIND[:START:END]]]",
        help="a picture that steers the result through an IP-Adapter, or through FLUX.1 "
        "Redux with a FLUX.1 model on a ComfyUI server (KIND: reference, style or "
        "composition; WEIGHT 0-2, default 1; START:END the part of the steps it acts on, "
        "default 0:1); repeatable",
    )
    _add_mask_arg(
        p,
        "limits the --reference of the same position to where MASK (the image's size) is "
        "white: the picture outside stays as it is without that reference; none: the whole "
        "picture; repeatable, in the order of the references",
    )


def _add_mask_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument(
        "--reference-mask", action="append", default=[], metavar="MASK.png|none", help=help
    )


def _masks(args: argparse.Namespace) -> list[str | None]:
    """The --reference-mask values, None for a whole-picture one."""
    values = [str(v) for v in getattr(args, "reference_mask", []) or []]
    return [None if v.strip().lower() == WHOLE else v for v in values]


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def attach_references(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> tuple[GenerationRequest, GenerationInputs]:
    """The request and inputs with the --reference specs and pictures added."""
    values = list(getattr(args, "reference_pictures", []) or [])
    masks = _masks(args)
    if len(masks) > len(values):
        raise CliError(
            f"There are {_count(len(masks), '--reference-mask value')} for "
            f"{_count(len(values), '--reference picture')}; give at most one per reference, "
            "in order (none for the whole picture)."
        )
    if not values:
        return request, inputs
    sources = reference_sources(values)
    for i, (value, source) in enumerate(zip(values, sources, strict=True)):
        path = parse_reference(value)[0]
        if not layer_references([source])[0]:
            raise CliError(
                f"The reference picture {path} is fully transparent; give a picture with "
                "visible pixels."
            )
        if i < len(masks) and masks[i] is not None:
            sources[i] = _limited(source, path, Path(str(masks[i])), request.canvas_size)
    width, height = request.canvas_size
    specs, pictures, limits = layer_references(sources, request.region or Box(0, 0, width, height))
    request = request.replace(references=specs)
    inputs = dataclasses.replace(inputs, references=pictures, reference_masks=limits)
    return request, inputs


def _limited(
    source: LayerReference, picture: str, mask_path: Path, size: tuple[int, int]
) -> LayerReference:
    """`source` limited to where the mask at `mask_path` is white."""
    mask = read_mask(mask_path, size)
    if not mask.any():
        raise CliError(
            f"The reference mask {mask_path} is all black; white marks where its reference applies."
        )
    return dataclasses.replace(
        source,
        region=lambda box: crop_rgba(mask, box),
        name=f"reference {picture}",
        region_name=f"mask {mask_path}",
    )


def add_rerun_reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reference-image",
        action="append",
        default=[],
        type=Path,
        help="a reference picture the recorded edit used (repeatable, in the recorded order)",
    )
    _add_mask_arg(
        p,
        "the mask of a recorded reference limited to a region, when the generation history "
        "does not hold it (repeatable, in the recorded order; none entries are skipped)",
    )


def reference_sources(values: list[str]) -> list[LayerReference]:
    """A LayerReference per --reference value (IMAGE[:WEIGHT[:KIND[:START:END]]])."""
    sources = []
    for value in values:
        try:
            path, spec = parse_reference(value)
        except ValueError as e:
            raise InvalidRequestError(f"--reference {e}.") from None
        picture = read_image(Path(path))
        sources.append(LayerReference(spec, lambda picture=picture: picture))
    return sources


def rerun_references(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> GenerationInputs:
    """The inputs with the recorded references' pictures and region masks, given with
    --reference-image and --reference-mask in the recorded order when the history did not
    hold them; a picture or mask that is missing or not the recorded one is refused."""
    if not request.references or len(inputs.references) == len(request.references):
        return inputs
    pictures = recorded_pictures(
        list(getattr(args, "reference_image", []) or []),
        [spec.image_hash for spec in request.references],
        read_image,
        "reference picture",
        "--reference-image",
    )
    return dataclasses.replace(
        inputs, references=pictures, reference_masks=_recorded_masks(args, request)
    )


def _recorded_masks(
    args: argparse.Namespace, request: GenerationRequest
) -> tuple[np.ndarray | None, ...]:
    """The --reference-mask masks of the recorded regional references, cropped as the
    run cropped them (None for the others)."""
    given = [Path(m) for m in _masks(args) if m is not None]
    regional = [i for i, spec in enumerate(request.references) if spec.mask_hash]
    if not regional:
        if given:
            raise CliError(
                "The recorded run limited no reference to a region; leave out --reference-mask."
            )
        return ()
    masks = recorded_pictures(
        given,
        [request.references[i].mask_hash for i in regional],
        lambda path: recorded_mask(path, request),
        "reference mask",
        "--reference-mask",
    )
    found = dict(zip(regional, masks, strict=True))
    return tuple(found.get(i) for i in range(len(request.references)))
