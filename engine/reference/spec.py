"""What a reference picture is, as a request records it.

A ReferenceSpec says how one picture steers a generation: its kind, weight and step
range, and the hash of the picture (and of the mask of the region it is limited to). The
pictures travel beside the request in GenerationInputs.references (same order). In Edit
mode the references are the extra input pictures of the multi-reference models; in the
other modes they go through an IP-Adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.spec_text import FromDict, as_clause, is_number, weight_and_range_problem

# Kind -> what it does, in words shown where the user picks it.
REFERENCE_KINDS: dict[str, str] = {
    "reference": "Steers the whole picture towards the reference: subject, colours and style.",
    "style": "Takes only the reference's style (colours, strokes, texture), not its layout.",
    "composition": "Takes only the reference's layout, not its style.",
}


@dataclass(frozen=True)
class ReferenceSpec(FromDict):
    kind: str = "reference"
    weight: float = 1.0
    start: float = 0.0  # fraction of the steps where the reference starts acting
    end: float = 1.0
    image_hash: str = ""  # engine.core.images.picture_hash of the picture
    model: str = ""  # the adapter's name or path; "" = the installed one for the family
    # The region it is limited to (a mask in GenerationInputs.reference_masks, same
    # order); "" = the whole picture.
    mask_hash: str = ""


def check_reference(spec: ReferenceSpec) -> str | None:
    """One sentence saying what is wrong with `spec`, or None when it can be used."""
    if spec.kind not in REFERENCE_KINDS:
        return f"Unknown reference kind {spec.kind!r}; use one of {', '.join(REFERENCE_KINDS)}."
    return weight_and_range_problem("reference", "weight", spec.weight, spec.start, spec.end)


def parse_reference(text: str) -> tuple[str, ReferenceSpec]:
    """`IMAGE[:WEIGHT[:KIND[:START:END]]]` -> (image path, spec without hashes).

    Fields are taken from the right, so a path may hold colons (a Windows drive).
    ValueError carries one sentence for the user.
    """
    parts = text.split(":")
    start = end = None
    if len(parts) >= 5 and is_number(parts[-1]) and is_number(parts[-2]):
        start, end = float(parts[-2]), float(parts[-1])
        parts = parts[:-2]
    kind = "reference"
    if len(parts) >= 3 and parts[-1].strip().lower() in REFERENCE_KINDS:
        kind = parts.pop().strip().lower()
    elif start is not None:
        raise ValueError(f"{text!r}: give KIND before START:END")
    weight = 1.0
    if len(parts) >= 2 and is_number(parts[-1]):
        weight = float(parts.pop())
    if len(parts) >= 2 and is_number(parts[-1]):  # IMAGE:WEIGHT:START:END, no KIND
        raise ValueError(f"{text!r}: use IMAGE[:WEIGHT[:KIND[:START:END]]]")
    image = ":".join(parts)
    if not image.strip():
        raise ValueError(f"{text!r} names no picture; use IMAGE[:WEIGHT[:KIND[:START:END]]]")
    spec = ReferenceSpec(kind, weight, 0.0 if start is None else start, 1.0 if end is None else end)
    problem = check_reference(spec)
    if problem:
        raise ValueError(f"{text!r}: {as_clause(problem)}")
    return image, spec
