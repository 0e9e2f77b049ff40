"""The user's generation settings: one frozen value shared by the window and the CLI.

The Generate panel produces it, Live derives its refine from it (`dataclasses.replace`),
engine.jobs turns it into a GenerationRequest, `overpaint` builds it from its arguments,
and the window saves it between sessions (`to_dict` / `from_dict`).

It holds what the user chose, not what a job resolved: `mode` and `inpaint_mode` may be
"auto", `strength` may be None (the inpaint mode's default) and `feather` None (the
region plan's). engine.jobs settles those per job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Loras = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class GenerationSettings:
    prompt: str = ""
    negative_prompt: str = ""
    model: str = ""  # a path or a name; "" is the default model
    mode: str = "auto"  # "auto", "txt2img", "img2img", "inpaint", "outpaint" or "fill"
    seed: int = 0
    seed_locked: bool = False  # the panel's lock; jobs use `seed` either way
    steps: int = 20
    guidance: float = 7.0
    strength: float | None = None  # None: the inpaint mode's default, else 0.75
    scheduler: str = "Euler a"
    shift: float = 0.0  # flow-matching models' sigma shift (0: the model's own)
    n_samples: int = 1
    loras: Loras = ()  # (name or path, weight) pairs
    # Inpainting (see engine.jobs.inpaint_settings, which checks them).
    inpaint_mode: str = "auto"
    grow: int = 0  # px; negative shrinks the mask
    feather: int | None = None  # px; None: the region plan's
    context: str = "auto"  # "auto", "mask", "whole" or a number of pixels
    color_match: bool = True
    soft_edges: bool = True

    def __post_init__(self) -> None:
        # The panel hands lists; a tuple keeps the value immutable and hashable.
        object.__setattr__(self, "loras", _loras(self.loras))

    def to_dict(self) -> dict[str, Any]:
        """Plain values under the field names (what the window saves)."""
        values = dataclasses.asdict(self)
        values["loras"] = [list(pair) for pair in self.loras]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GenerationSettings:
        """Settings from saved values, tolerantly: unknown keys are ignored, and missing
        keys or values that do not parse (an older or hand-edited file) take the
        defaults. INI files hand every value back as a string."""
        return cls(**parse_values(values))

    @classmethod
    def coerce(cls, value: GenerationSettings | Mapping[str, Any]) -> GenerationSettings:
        """`value` itself, or settings read from a mapping of field names."""
        return value if isinstance(value, GenerationSettings) else cls.from_dict(value)


def parse_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that name a field and parse as its type, parsed; the
    others are left out (a partial update sets only what it holds)."""
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        parse = _PARSERS.get(key)
        if parse is None:
            continue
        try:
            parsed[key] = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
    return parsed


def _flag(value: Any) -> bool:
    # INI settings hand booleans back as "true"/"false".
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None or value == "" else parse(value)


def _required(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_required(value: Any) -> Any:
        if value is None:  # a value QSettings could not read back
            raise ValueError("missing")
        return parse(value)

    return parse_required


def _loras(value: Iterable[Any] | None) -> Loras:
    if value is None or isinstance(value, str):
        # INI gives "" for an empty list; a lone string is no (name, weight) pair.
        if value:
            raise ValueError(f"not a list of LoRAs: {value!r}")
        return ()
    return tuple((str(item[0]), float(item[1])) for item in value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "prompt": _required(str),
    "negative_prompt": _required(str),
    "model": _required(str),
    "mode": _required(str),
    "seed": _required(int),
    "seed_locked": _required(_flag),
    "steps": _required(int),
    "guidance": _required(float),
    "strength": _optional(float),
    "scheduler": _required(str),
    "shift": _required(float),
    "n_samples": _required(int),
    "loras": _loras,
    "inpaint_mode": _required(str),
    "grow": _required(int),
    "feather": _optional(int),
    "context": _required(str),
    "color_match": _required(_flag),
    "soft_edges": _required(_flag),
}
