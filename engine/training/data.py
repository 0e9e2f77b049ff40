"""The training pictures: a folder of images with captions, cropped to the model's size.

Captions come from NAME.txt beside NAME.png (the kohya convention) or, for pictures without
one, from a template holding the concept word ("a photo of {concept}"); {concept} in a
NAME.txt becomes the concept word too. Pictures of any size and mode are scaled so that
their short side fills the target and centre-cropped (square buckets at the native size),
or, with bucketing, scaled to the bucket nearest their aspect ratio at about the native
area. Everything is decoded once, up front, so a bad file is reported before any training
time is spent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.core.errors import EngineError
from engine.core.images import ImageReadError, read_image
from engine.model_families import family_label
from engine.models import ModelInfo

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MIN_PICTURES = 3
DEFAULT_TEMPLATE = "a picture of {concept}"


class TrainingError(EngineError):
    """The pictures, captions or settings cannot be trained on (one sentence)."""


@dataclass(frozen=True)
class Picture:
    path: Path
    caption: str
    pixels: np.ndarray  # HxWx3 uint8 at the training size


def picture_files(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (the order seeds rely on)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"The picture folder {folder} does not exist.")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise TrainingError(
            f"The folder {folder} holds no pictures (PNG, JPEG, WebP, ...); "
            f"put at least {MIN_PICTURES} pictures of the concept in it."
        )
    if len(files) < MIN_PICTURES:
        raise TrainingError(
            f"The folder {folder} holds only {len(files)} picture(s); training needs at "
            f"least {MIN_PICTURES} pictures of the concept."
        )
    return files


def caption_for(path: Path, concept: str, template: str = DEFAULT_TEMPLATE) -> str:
    """NAME.txt beside the picture when present and not empty, else the template; in
    either, {concept} becomes the concept word. (The Train dialog shows a template caption
    as "a picture of {concept}" until the word is typed, so a caption edited from it keeps
    the placeholder; trained verbatim, the LoRA would never learn the word.)"""
    text_file = caption_file(path)
    if text_file.is_file():
        text = " ".join(text_file.read_text(encoding="utf-8", errors="replace").split())
        if text:
            return text.replace("{concept}", concept)
    return template.replace("{concept}", concept)


def caption_file(picture: Path) -> Path:
    """Where a picture's own caption lives: NAME.txt beside NAME.png (kohya)."""
    return Path(picture).with_suffix(".txt")


def write_caption(picture: Path, text: str) -> Path | None:
    """Make `text` the picture's caption: NAME.txt, written atomically (a reader sees the old
    or the new caption, never half of one). An empty text removes NAME.txt, so the picture
    falls back to the caption template. Returns the caption file, or None when removed."""
    from engine.core.atomic_write import atomic_write  # cheap: to be hoisted (issue 23)

    target = caption_file(picture)
    text = " ".join(text.split())
    if not text:
        target.unlink(missing_ok=True)
        return None
    with atomic_write(target) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return target


def bucket_sizes(native: int, step: int = 64) -> list[tuple[int, int]]:
    """(width, height) pairs of about native² pixels, sides multiples of 8, ratio <= 2."""
    sizes = {(native, native)}
    area = native * native
    side = native + step
    while True:
        other = int(round(area / side / 8)) * 8
        if other < 8 or side / other > 2.0:
            break
        sizes |= {(side, other), (other, side)}
        side += step
    return sorted(sizes)


def fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale so the picture covers width x height, then cut the middle out (RGB uint8)."""
    rgba = image.astype(np.float32)
    # Transparent parts become white, like a picture printed on paper.
    rgb = rgba[..., :3] * (rgba[..., 3:4] / 255.0) + 255.0 * (1.0 - rgba[..., 3:4] / 255.0)
    im = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    scale = max(width / im.width, height / im.height)
    w, h = max(width, round(im.width * scale)), max(height, round(im.height * scale))
    im = im.resize((w, h), Image.Resampling.LANCZOS)
    left, top = (w - width) // 2, (h - height) // 2
    return np.asarray(im.crop((left, top, left + width, top + height)))


def load_pictures(
    folder: Path,
    concept: str,
    native: int,
    template: str = DEFAULT_TEMPLATE,
    bucket: bool = False,
) -> list[Picture]:
    """Every picture of the folder, decoded, captioned and brought to its training size."""
    files = picture_files(folder)
    buckets = bucket_sizes(native) if bucket else [(native, native)]
    pictures = []
    for path in files:
        try:
            image = read_image(path)
        except ImageReadError as e:
            raise TrainingError(
                f"Cannot train on {path.name}: it is not a readable picture ({e}); "
                "remove or replace it."
            ) from e
        h, w = image.shape[:2]
        size = min(buckets, key=lambda s: abs(np.log((s[0] / s[1]) / (w / h))))
        pictures.append(Picture(path, caption_for(path, concept, template), fit(image, *size)))
    return pictures


_MIRRORED = {"left": "right", "right": "left"}


def mirrored_caption(text: str) -> str:
    """The caption of the picture's mirror image: "left" and "right" trade places.

    Without this, flips teach the opposite side for every caption that names one."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        other = _MIRRORED[word.lower()]
        return other.capitalize() if word[0].isupper() else other

    return re.sub(r"\b(?:left|right)\b", swap, text, flags=re.IGNORECASE)


def without_word(caption: str, word: str) -> str:
    """The caption with every occurrence of `word` left out ("a red star, blue background"
    -> "a red, blue background"): the prompt for what the model drew before the concept."""
    text = re.sub(rf"\b{re.escape(word)}\b", " ", caption, flags=re.IGNORECASE)
    text = re.sub(r"\s+([,.;:])", r"\1", " ".join(text.split()))
    return text.strip(" ,")


def caption_words(text: str) -> set[str]:
    return set(re.findall(r"[\w'-]+", text.lower()))


def check_concept(concept: str, pictures: Sequence[Picture]) -> None:
    word = concept.strip()
    if not word or len(word.split()) != 1:
        raise TrainingError(f"The concept must be one word, not {concept!r}.")
    if not any(word.lower() in caption_words(p.caption) for p in pictures):
        raise TrainingError(
            f"No caption mentions the concept word {word!r}; write it in the NAME.txt "
            "captions or leave them out to use the caption template."
        )


# The families the recipe (a UNet's attention layers) trains, as sentences name them.
TRAINABLE_FAMILIES = "SD 1.x, SD 2.x and SDXL"


def check_model(info: ModelInfo) -> None:
    """TrainingError in one sentence when `info` is not a model LoRA training can teach:
    the recipe trains a regular (not inpainting) UNet's attention layers."""
    if info.is_inpainting:
        raise TrainingError(
            f"{info.name} is an inpainting model; train on the regular model of the same "
            "family (the LoRA works on both)."
        )
    if info.is_modern:
        raise TrainingError(
            f"{info.name} is a {family_label(info.family)} model, and LoRA training works on "
            f"{TRAINABLE_FAMILIES} models only; pick one of those."
        )
