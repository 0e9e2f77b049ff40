"""The command line's controls: `--control KIND:IMAGE[:STRENGTH[:START:END]]` and
`--control-model KIND:PATH_OR_NAME` on txt2img/img2img/inpaint, `--control-image` on
rerun.

A control image is fitted to the picture the way the window's control layers are: resized
to the canvas (the input image, or the txt2img size) when its size differs, then cropped
at the request's region, so the engine always gets it at the crop's size. Its hash is
taken after that, which is what lets `rerun` recognise the same file again. Every problem
is an EngineError (exit 1, one `error:` line) found before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from engine.control.models import inspect_control
from engine.control.spec import CONTROL_KINDS, ControlSpec, control_image_hash, parse_control
from engine.core.errors import InvalidRequestError
from engine.core.images import read_image
from engine.jobs import crop_rgba
from engine.region import resize_rgb
from engine.request import GenerationInputs, GenerationRequest


def add_control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="KIND:IMAGE[:STRENGTH[:START:END]]",
        help=f"guide the picture with a control image; KIND is one of {', '.join(CONTROL_KINDS)}"
        " (strength 0-2, default 1; START/END: fraction of the steps, default 0:1); repeatable",
    )
    p.add_argument(
        "--control-model",
        action="append",
        default=[],
        metavar="KIND:PATH_OR_NAME",
        help="the control model for KIND (default: the installed one for the kind and the "
        "model's family, in the models folder's controlnet/ folder)",
    )


def add_rerun_control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--control-image",
        action="append",
        default=[],
        type=Path,
        help="a control image the recorded run used (repeatable, in the recorded order)",
    )


def _control_models(values: list[str], extra_dirs: tuple[Path, ...]) -> dict[str, str]:
    models: dict[str, str] = {}
    for value in values:
        kind, sep, name = value.partition(":")
        kind = kind.strip().lower()
        if not sep or not name:
            raise InvalidRequestError(f"--control-model {value!r}: use KIND:PATH_OR_NAME.")
        if kind not in CONTROL_KINDS:
            raise InvalidRequestError(
                f"--control-model {value!r}: unknown control kind {kind!r}; use one of "
                f"{', '.join(CONTROL_KINDS)}."
            )
        if Path(name).expanduser().exists():
            inspect_control(Path(name))  # "not a control model" before the model loads
        models[kind] = name
    return models


def fit_control(
    image: np.ndarray, canvas: tuple[int, int], request: GenerationRequest
) -> np.ndarray:
    """`image` at the canvas size, cropped at the request's region."""

    width, height = canvas
    if image.shape[:2] != (height, width):
        image = resize_rgb(np.ascontiguousarray(image), width, height)
    if request.region is None:
        return image
    return crop_rgba(image, request.region)


def attach_controls(
    args: argparse.Namespace,
    request: GenerationRequest,
    inputs: GenerationInputs,
    extra_dirs: tuple[Path, ...] = (),
) -> tuple[GenerationRequest, GenerationInputs]:
    """The request and inputs with the --control images (fitted) and specs added."""

    values = list(getattr(args, "control", []) or [])
    models = _control_models(list(getattr(args, "control_model", []) or []), extra_dirs)
    unused = set(models) - {v.partition(":")[0].strip().lower() for v in values}
    if unused:
        raise InvalidRequestError(
            f"--control-model names a {sorted(unused)[0]} model but no --control of that kind."
        )
    if not values:
        return request, inputs
    specs, images = [], []
    for value in values:
        try:
            kind, path, weight, start, end = parse_control(value)
        except ValueError as e:
            raise InvalidRequestError(f"--control {value!r}: {e}.") from None
        image = None
        if path:
            image = fit_control(read_image(Path(path)), request.canvas_size, request)
        specs.append(
            ControlSpec(
                kind,
                model=models.get(kind, ""),
                weight=weight,
                start=start,
                end=end,
                image_hash="" if image is None else control_image_hash(image),
            )
        )
        images.append(image)
    request = request.replace(controls=tuple(specs))
    return request, dataclasses.replace(inputs, controls=tuple(images))


def rerun_controls(
    args: argparse.Namespace, request: GenerationRequest, inputs: GenerationInputs
) -> GenerationInputs:
    """The inputs with the recorded controls' images, matched by hash; a control whose
    image is not among --control-image is refused, never silently left out."""

    if not request.controls:
        return inputs
    given: dict[str, np.ndarray] = {}
    for path in getattr(args, "control_image", []) or []:
        image = fit_control(read_image(path), request.canvas_size, request)
        given[control_image_hash(image)] = image
    images: list[np.ndarray | None] = []
    for i, spec in enumerate(request.controls):
        if not spec.image_hash:
            images.append(None)
            continue
        if spec.image_hash not in given:
            raise InvalidRequestError(
                f"The recorded run used a {spec.kind} control (control {i}, image hash "
                f"{spec.image_hash}); pass that image with --control-image."
            )
        images.append(given[spec.image_hash])
    return dataclasses.replace(inputs, controls=tuple(images))
