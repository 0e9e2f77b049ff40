"""What a regional prompt is, as a request records it.

A RegionSpec holds the prompt that applies under one mask and the hash of that mask. The
mask itself travels beside the request in GenerationInputs.region_masks (same order), so
the request stays small; the hash lets the engine and `overpaint rerun` refuse a missing
or different mask instead of silently generating without it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.spec_text import FromDict, as_clause


@dataclass(frozen=True)
class RegionSpec(FromDict):
    prompt: str
    negative_prompt: str = ""
    mask_hash: str = ""  # engine.core.images.picture_hash of the mask (HxW uint8)


def check_region(spec: RegionSpec) -> str | None:
    """One sentence saying what is wrong with `spec`, or None when it can be used."""
    if not spec.prompt.strip():
        return "A region needs a prompt of its own."
    return None


def parse_region(text: str) -> tuple[str, str, str]:
    """`MASK.png:PROMPT[:NEGATIVE]` -> (mask path, prompt, negative prompt).

    A Windows drive letter ("C:\\masks\\a.png") stays part of the path. ValueError carries
    one sentence for the user.
    """
    parts = text.split(":")
    if len(parts) > 1 and len(parts[0]) == 1 and parts[0].isalpha():
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) < 2 or not parts[0].strip():
        raise ValueError(f"{text!r}: use MASK.png:PROMPT[:NEGATIVE]")
    mask, prompt, negative = parts[0], parts[1], ":".join(parts[2:])
    problem = check_region(RegionSpec(prompt, negative))
    if problem:
        raise ValueError(f"{text!r}: {as_clause(problem)}")
    return mask, prompt.strip(), negative.strip()
