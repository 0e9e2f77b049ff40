"""The command line's reference pictures: `--reference IMAGE[:WEIGHT[:KIND[:START:END]]]`
on txt2img, img2img and inpaint, repeatable, each steering the picture through an
IP-Adapter (on a ComfyUI server with a FLUX.1 model: Redux) as a reference layer does in
the window (KIND: reference, style or composition; START:END the fraction of the steps it
acts on); `overpaint edit` reads its extra pictures with the same `reference_sources`.

The picture is read by the window's reader and recorded by its hash; `rerun` finds it in
the generation history or takes it again with --reference-image (`rerun_references`),
as it does an Edit's extra pictures.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from engine.cli.common import CliError, read_image, recorded_pictures
from engine.core.errors import InvalidRequestError
from engine.reference.jobs import LayerReference, layer_references
from engine.reference.spec import parse_reference
from engine.request import GenerationInputs, GenerationRequest


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


def attach_references(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> tuple[GenerationRequest, GenerationInputs]:
    """The request and inputs with the --reference specs and pictures added."""
    values = list(getattr(args, "reference_pictures", []) or [])
    if not values:
        return request, inputs
    sources = reference_sources(values)
    for value, source in zip(values, sources, strict=True):
        if not layer_references([source])[0]:
            raise CliError(
                f"The reference picture {parse_reference(value)[0]} is fully transparent; give a "
                "picture with visible pixels."
            )
    specs, pictures = layer_references(sources)
    request = request.replace(references=specs)
    inputs = dataclasses.replace(inputs, references=pictures)
    return request, inputs


def add_rerun_reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reference-image",
        action="append",
        default=[],
        type=Path,
        help="a reference picture the recorded edit used (repeatable, in the recorded order)",
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
    """The inputs with the recorded references' pictures, given with --reference-image in
    the recorded order; a picture that is missing or not the recorded one is refused."""
    if not request.references or len(inputs.references) == len(request.references):
        return inputs
    pictures = recorded_pictures(
        list(getattr(args, "reference_image", []) or []),
        [spec.image_hash for spec in request.references],
        read_image,
        "reference picture",
        "--reference-image",
    )
    return dataclasses.replace(inputs, references=pictures)
