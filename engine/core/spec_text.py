"""What the specs a request records (controls, references, regions) share: reading one
back from JSON, telling numbers in their `A:B:C` command-line forms, the weight and step
range checks, and a check's sentence turned into a clause of a longer error."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_Spec = TypeVar("_Spec", bound="FromDict")


class FromDict:
    """A frozen dataclass spec read back from a request's JSON; keys it does not know
    (from a newer version) are ignored."""

    @classmethod
    def from_dict(cls: type[_Spec], data: dict[str, Any]) -> _Spec:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def as_clause(sentence: str) -> str:
    """A check's sentence as a clause after a colon: lower-case first letter, no full stop."""
    return sentence[:1].lower() + sentence[1:].rstrip(".")


def weight_and_range_problem(
    what: str, weight_name: str, weight: float, start: float, end: float
) -> str | None:
    """One sentence when a `what`'s weight is outside 0-2 or its step range is not
    0 <= start < end <= 1, else None."""
    if not 0.0 <= weight <= 2.0:
        return f"A {what}'s {weight_name} must be between 0 and 2, not {weight:g}."
    if not 0.0 <= start < end <= 1.0:
        return (
            f"A {what}'s start and end must satisfy 0 <= start < end <= 1, not "
            f"{start:g} and {end:g}."
        )
    return None
