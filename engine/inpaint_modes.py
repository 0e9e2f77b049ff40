"""Inpaint modes: what goes into the hole before diffusion, and how hard it is repainted.

The modes follow Krita AI Diffusion's: `add` new content, `remove` what is there and
continue the surroundings, `replace-background`, `expand` (outpaint) and `refine`
(img2img on the masked area only). Each pre-fills the hole its own way and has its own
default strength; `auto` picks one from the mask, the pixels under it and the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.fill import classical_fill, prefill_transparent

INPAINT_MODES: tuple[str, ...] = ("auto", "add", "remove", "replace-background", "expand", "refine")

# A mask covering more than this share of the picture's opaque pixels is taken as "the
# background" by auto.
BACKGROUND_SHARE = 0.5
# Noise added to the edge-extended pre-fill of `expand`, so the model sees texture to
# work on instead of flat streaks (Krita does the same).
EXPAND_NOISE_SIGMA = 16.0
NEUTRAL_GREY = 127


@dataclass(frozen=True)
class ModeRecipe:
    prefill: str  # "fill" (Navier-Stokes), "neutral", "edge-noise" or "keep"
    strength: float | None  # None: the user's strength
    description: str


RECIPES: dict[str, ModeRecipe] = {
    "add": ModeRecipe("neutral", 1.0, "paint new content into the masked area"),
    "remove": ModeRecipe("fill", 0.3, "remove what is masked and continue the surroundings"),
    "replace-background": ModeRecipe("neutral", 1.0, "paint a new background where masked"),
    "expand": ModeRecipe("edge-noise", 1.0, "extend the picture into the empty area"),
    "refine": ModeRecipe("keep", None, "repaint the masked pixels, keeping their layout"),
}


def describe(mode: str) -> str:
    """One line for the panel's tooltip."""
    if mode == "auto":
        return "pick the mode from the mask, the pixels under it and the prompt"
    return RECIPES[mode].description


def check_mode(mode: str) -> str:
    if mode not in INPAINT_MODES:
        raise ValueError(f"unknown inpaint mode {mode!r}; use one of {', '.join(INPAINT_MODES)}")
    return mode


def detect_mode(image_rgba: np.ndarray, mask: np.ndarray, prompt: str) -> str:
    """`auto`'s choice for a context crop and its repaint mask (255 = repaint).

    Empty pixels under the mask -> expand; no prompt -> remove; a mask over most of the
    picture -> replace-background; otherwise add.
    """
    painted = np.asarray(mask) > 0
    alpha = np.asarray(image_rgba)[..., 3]
    if (alpha[painted] == 0).any():
        return "expand"
    if not prompt.strip():
        return "remove"
    opaque = int((alpha > 0).sum())
    if opaque and painted.sum() > BACKGROUND_SHARE * opaque:
        return "replace-background"
    return "add"


def default_strength(mode: str, requested: float) -> float:
    recipe = RECIPES.get(mode)
    return requested if recipe is None or recipe.strength is None else recipe.strength


def prefill(mode: str, image_rgba: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The opaque RGB picture diffusion starts from for `mode` (mask: 255 = repaint).

    Pixels outside the mask are the input's (transparent ones edge-extended), so only
    the hole differs between modes. The same inputs always give the same pre-fill (the
    noise of `expand` has a fixed seed), so a replayed request gives the same pixels.
    """
    rgba = np.asarray(image_rgba)
    rgb = prefill_transparent(rgba) if (rgba[..., 3] == 0).any() else rgba[..., :3].copy()
    hole = np.asarray(mask) > 0
    kind = RECIPES[mode].prefill
    if kind == "fill" and hole.any():
        # Navier-Stokes continues flat colours exactly and ramps closely; Telea was off by
        # ~3 levels on a flat background and ~6 on a ramp (512x384, r = 100 disc).
        hole_u8 = np.where(hole, 255, 0).astype(np.uint8)
        rgb = classical_fill(np.ascontiguousarray(rgb), hole_u8, "ns")
    elif kind == "neutral":
        rgb[hole] = NEUTRAL_GREY
    elif kind == "edge-noise":
        rng = np.random.default_rng(0)
        noise = rng.normal(0.0, EXPAND_NOISE_SIGMA, rgb.shape)
        rgb = np.where(hole[..., None], np.clip(rgb + noise, 0, 255), rgb).astype(np.uint8)
    return rgb
