"""The command line's reference pictures on txt2img, img2img and inpaint:
`--reference IMAGE[:WEIGHT[:KIND[:START:END]]]`, repeatable, each steering the picture
through an IP-Adapter as a reference layer does in the window (KIND: reference, style or
composition; START:END the fraction of the steps it acts on).

The picture is read by the window's reader and recorded by its hash; `rerun` finds it in
the generation history or takes it again with --reference-image (engine.cli.edit).
"""

from __future__ import annotations

import argparse
import dataclasses

from engine.cli.common import CliError
from engine.cli.edit import reference_sources
from engine.reference.jobs import layer_references
from engine.reference.spec import parse_reference
from engine.request import GenerationInputs, GenerationRequest


def add_reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reference",
        dest="reference_pictures",
        action="append",
        default=[],
        metavar="IMAGE[:WEIGHT[:KIND[:START:END]]]",
        help="a picture that steers the result through an IP-Adapter (KIND: reference, "
        "style or composition; WEIGHT 0-2, default 1; START:END the part of the steps it "
        "acts on, default 0:1); repeatable",
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
    inputs = dataclasses.replace(
        inputs, references=pictures, reference_masks=(None,) * len(pictures)
    )
    return request, inputs
