"""What a control (ControlNet / T2I-Adapter guidance) is, as a request records it.

A ControlSpec names the kind of control, the control model, its weight and the range of
steps it acts on, plus a hash of the control image. The image itself travels beside the
request in GenerationInputs.controls (same order), so a request stays small; the hash
lets the engine and `overpaint rerun` refuse a missing or different control image
instead of silently generating without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from engine.core.images import picture_hash
from engine.core.spec_text import FromDict, as_clause, is_number, weight_and_range_problem

# Kind -> what it does, in words shown where the user picks it.
CONTROL_KINDS: dict[str, str] = {
    "scribble": "Follows the lines of a rough sketch: white strokes on black (a drawing "
    "on a light background is inverted).",
    "lineart": "Follows the line drawing of a picture (lines found with OpenCV).",
    "softedge": "Follows the soft outlines of a picture's shapes (blurred edges, OpenCV).",
    "canny": "Follows the hard edges of a picture (OpenCV Canny, with two thresholds).",
    "depth": "Follows a depth map (a prepared grey image: near is light).",
    "pose": "Follows a prepared OpenPose skeleton image.",
    "inpaint": "Repaints the masked part so it fits the picture around it (ControlNet "
    "inpaint, SD 1.5).",
}
# Words in a control model's name that say which kind of control image it was trained on
# (the kind is a label, like a model's display name; fitness is judged from the config).
_KIND_WORDS = (
    ("inpaint", "inpaint"),
    ("scribble", "scribble"),
    ("sketch", "scribble"),
    ("lineart", "lineart"),
    ("softedge", "softedge"),
    ("hed", "softedge"),
    ("pidi", "softedge"),
    ("canny", "canny"),
    ("depth", "depth"),
    ("openpose", "pose"),
    ("pose", "pose"),
)
# Kinds whose image the user prepares; no preprocessor model is downloaded for them.
PREPARED_KINDS = ("depth", "pose")


@dataclass(frozen=True)
class ControlSpec(FromDict):
    kind: str
    model: str = ""  # control model name or path; "" = the installed one for kind + family
    weight: float = 1.0
    start: float = 0.0  # fraction of the steps where the control starts acting
    end: float = 1.0  # ... and where it stops
    image_hash: str = ""  # control_image_hash() of the image in GenerationInputs.controls
    low_threshold: int = 100  # canny only
    high_threshold: int = 200
    # The image is already a control image (a control layer made by "Make control from
    # layer"): no preprocessor runs on it, as the A1111 extension's "Module: none".
    prepared: bool = False


def check_spec(spec: ControlSpec) -> str | None:
    """One sentence saying what is wrong with `spec`, or None when it can be used."""
    if spec.kind not in CONTROL_KINDS:
        return f"Unknown control kind {spec.kind!r}; use one of {', '.join(CONTROL_KINDS)}."
    problem = weight_and_range_problem("control", "strength", spec.weight, spec.start, spec.end)
    if problem:
        return problem
    if not 0 <= spec.low_threshold <= spec.high_threshold <= 255:
        return "Canny thresholds must satisfy 0 <= low <= high <= 255."
    return None


def parse_control(text: str) -> tuple[str, str, float, float, float]:
    """`KIND:IMAGE[:STRENGTH[:START:END]]` -> (kind, image path, weight, start, end).

    The image path may itself hold colons (a Windows drive): numbers are taken from the
    right. ValueError carries one sentence for the user.
    """
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in CONTROL_KINDS:
        raise ValueError(f"unknown control kind {kind!r}; use one of {', '.join(CONTROL_KINDS)}")
    parts = rest.split(":") if rest else []
    numbers: list[float] = []
    while parts and len(numbers) < 3 and is_number(parts[-1]) and len(parts) > 1:
        numbers.insert(0, float(parts.pop()))
    if len(numbers) == 2:  # IMAGE:STRENGTH:START without END is ambiguous
        raise ValueError(f"{text!r}: give STRENGTH, or STRENGTH:START:END")
    image = ":".join(parts)
    if not image and kind != "inpaint":
        raise ValueError(f"{text!r} names no control image; use KIND:IMAGE[:STRENGTH[:START:END]]")
    weight = numbers[0] if numbers else 1.0
    start, end = (numbers[1], numbers[2]) if len(numbers) == 3 else (0.0, 1.0)
    problem = check_spec(ControlSpec(kind, weight=weight, start=start, end=end))
    if problem:
        raise ValueError(as_clause(problem))
    return kind, image, weight, start, end


def control_image_hash(image: np.ndarray) -> str:
    """The identity a request records for a control image."""
    return picture_hash(image)


def control_parameters(spec: ControlSpec) -> str:
    """One control in the AUTOMATIC1111 ControlNet extension's `parameters` form (the
    value of a `ControlNet N:` pair; the caller quotes it)."""

    def num(value: float) -> str:
        return f"{value:.6g}" if value != int(value) else str(int(value))

    module = "none" if spec.prepared else spec.kind
    text = f"Module: {module}, Model: {spec.model or 'auto'}, Weight: {num(spec.weight)}"
    if spec.kind == "canny":
        text += f", Threshold A: {spec.low_threshold}, Threshold B: {spec.high_threshold}"
    return text + f", Guidance Start: {num(spec.start)}, Guidance End: {num(spec.end)}"


def kind_from_name(name: str) -> str:
    words = re.split(r"[^a-z0-9]+", name.lower())
    joined = "_".join(words)
    for word, kind in _KIND_WORDS:
        if word in words or f"_{word}" in f"_{joined}":
            return kind
    return ""


def spec_from_parameters(value: str) -> ControlSpec | None:
    """A ControlSpec from the A1111 ControlNet extension's `ControlNet N` value (as
    control_parameters writes it, or A1111 with module names such as "scribble_hed"), or
    None when its kind cannot be told. The image hash is not in that text."""
    fields = {k.strip(): v.strip() for k, _, v in (p.partition(":") for p in value.split(","))}
    module, model = fields.get("Module", ""), fields.get("Model", "")
    prepared = module.lower() in ("", "none")
    kind = (kind_from_name(module) if not prepared else "") or kind_from_name(model)
    if kind not in CONTROL_KINDS:
        return None
    try:
        spec = ControlSpec(
            kind,
            model="" if model.lower() in ("", "auto", "none") else model,
            weight=float(fields.get("Weight", 1.0)),
            start=float(fields.get("Guidance Start", 0.0)),
            end=float(fields.get("Guidance End", 1.0)),
            low_threshold=int(float(fields.get("Threshold A", 100))) if kind == "canny" else 100,
            high_threshold=int(float(fields.get("Threshold B", 200))) if kind == "canny" else 200,
            prepared=prepared,
        )
    except ValueError:
        return None
    return None if check_spec(spec) else spec
