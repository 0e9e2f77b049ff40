"""PNG generation metadata: the AUTOMATIC1111 ``parameters`` text plus the full request.

``parameters`` is what every SD tool reads (docs/ARCHITECTURE.md, "PNG metadata");
``overpaint_request`` holds ``GenerationRequest.to_json()`` so ``overpaint rerun`` can
replay a PNG exactly. Two small JSON chunks go with them: ``overpaint_watermark`` (where
the invisible mark is, or why there is none: engine.watermark.mark_generated) and, on
editor exports, ``overpaint_replay`` (the history entry whose input pictures replay it,
or why the picture holds no single generation).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine import __version__
from engine.control.spec import control_parameters, spec_from_parameters
from engine.core.atomic_write import atomic_write
from engine.lora.library import format_tags
from engine.request import GenerationRequest

log = logging.getLogger(__name__)

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "overpaint_request"
WATERMARK_KEY = "overpaint_watermark"
REPLAY_KEY = "overpaint_replay"
_MASKED_MODES = ("inpaint", "outpaint", "fill")
# A1111's own pattern for one `key: value` pair of the parameters line.
_PARAM_RE = re.compile(r'\s*(\w[\w \-/+]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE = "Negative prompt:"


def quote(value: object) -> str:
    """A1111's rule: values holding ``,`` ``:`` or a newline are JSON-quoted."""
    text = _plain(value)
    if any(c in text for c in ",:\n"):
        return json.dumps(text, ensure_ascii=False)
    return text


def _plain(value: object) -> str:
    if isinstance(value, float):
        # 7.0 -> "7", 0.75 -> "0.75": the way A1111 files usually read.
        return f"{value:.6g}" if value != int(value) else str(int(value))
    return str(value)


def format_parameters(
    request: GenerationRequest,
    seed: int,
    model_name: str,
    model_hash: str | None,
    width: int,
    height: int,
    extra: Mapping[str, object] | None = None,
) -> str:
    """The A1111 ``parameters`` text for one sample.

    Prompt line(s), a ``Negative prompt:`` line only when there is one, then the
    ``key: value`` line. ``extra`` appends further pairs (e.g. ``Watermark``).
    """
    fields: dict[str, object] = {
        "Steps": request.steps,
        "Sampler": request.scheduler,
        "CFG scale": float(request.guidance),
        "Seed": int(seed),
        "Size": f"{width}x{height}",
    }
    if model_hash:
        fields["Model hash"] = model_hash[:10]
    if model_name:
        fields["Model"] = model_name
    if request.mode != "txt2img":
        fields["Denoising strength"] = float(request.strength)
    if request.mode in _MASKED_MODES:
        fields["Mask blur"] = request.mask_blur
    if request.mode in ("inpaint", "outpaint"):
        fields["Inpaint mode"] = request.inpaint_mode
        fields["Mask grow"] = request.grow
        fields["Inpaint context"] = request.context
        fields["Color match"] = "on" if request.color_match else "off"
        fields["Soft inpainting"] = "on" if request.soft_edges else "off"
    for i, control in enumerate(request.controls):
        fields[f"ControlNet {i}"] = control_parameters(control)
    for i, ref in enumerate(request.references):
        parts = [f"Hash: {ref.image_hash}"]
        # An Edit's extra pictures are inputs, not adapters: their hash says which.
        if request.mode != "edit":
            parts += [f"Kind: {ref.kind}", f"Weight: {ref.weight:g}"]
            if (ref.start, ref.end) != (0.0, 1.0):
                parts += [f"Start: {ref.start:g}", f"End: {ref.end:g}"]
        if ref.mask_hash:
            parts.append(f"Mask hash: {ref.mask_hash}")
        if request.mode != "edit" and ref.model:
            parts.append(f"Model: {ref.model}")
        fields[f"Reference {i}"] = ", ".join(parts)
    for i, region in enumerate(request.regions):
        negative = f", Negative prompt: {region.negative_prompt}" if region.negative_prompt else ""
        fields[f"Region {i}"] = f"Prompt: {region.prompt}{negative}, Mask hash: {region.mask_hash}"
    fields["Mode"] = request.mode
    if request.precision != "auto":  # what the engine computed in (it records its choice)
        fields["Precision"] = request.precision
    fields.update(extra or {})
    fields["Version"] = f"overpaint {__version__}"
    line = ", ".join(f"{key}: {quote(value)}" for key, value in fields.items())

    text = request.prompt
    if request.loras:
        # AUTOMATIC1111 keeps <lora:name:weight> in the prompt; its `Lora hashes` pair
        # comes in `extra` (hashing needs the files).

        text = f"{text} {format_tags(request.loras)}".strip()
    if request.negative_prompt:
        text += f"\nNegative prompt: {request.negative_prompt}"
    return f"{text}\n{line}"


def png_info(
    parameters: str | None,
    request: GenerationRequest | None,
    records: Mapping[str, Mapping[str, object]] | None = None,
) -> PngInfo:
    """PNG text chunks: ``parameters`` (tEXt, or iTXt for non-Latin-1), the request JSON,
    and ``records`` (chunk name -> JSON object, e.g. WATERMARK_KEY)."""
    info = PngInfo()
    if parameters is not None:
        info.add_text(PARAMETERS_KEY, parameters)
    if request is not None:
        info.add_text(REQUEST_KEY, request.to_json(), zip=True)
    for key, record in (records or {}).items():
        info.add_text(key, json.dumps(record, ensure_ascii=False, sort_keys=True))
    return info


def file_hash(path: str | os.PathLike[str]) -> str:
    """A1111's model hash: the first 10 hex digits of the file's sha256."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:10]


def _to_image(pixels: np.ndarray) -> Image.Image:
    arr = np.ascontiguousarray(pixels)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        return Image.fromarray(arr, "L")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(arr, "RGB" if arr.shape[2] == 3 else "RGBA")
    raise ValueError(f"expected HxW, HxWx3 or HxWx4 pixels, got shape {arr.shape}")


def save_png(
    path: str | os.PathLike[str],
    rgba_or_rgb: np.ndarray,
    parameters: str | None,
    request: GenerationRequest | None,
    records: Mapping[str, Mapping[str, object]] | None = None,
) -> None:
    """Write a PNG with metadata atomically: an existing file is replaced whole or not at all.

    See `engine.core.atomic_write`: a new file gets the permissions the umask allows, a replaced
    one keeps its own; on any error ``path`` is untouched and no temporary file remains.
    """
    image = _to_image(rgba_or_rgb)
    info = png_info(parameters, request, records)
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)


def _read_text(path: str | os.PathLike[str], key: str) -> str | None:
    with Image.open(path) as im:
        value = im.info.get(key)
    return value if isinstance(value, str) else None


def read_parameters(path: str | os.PathLike[str]) -> str | None:
    """The ``parameters`` text of an image, or None when it has none.

    An unreadable or missing file raises OSError (PIL.UnidentifiedImageError included).
    """
    return _read_text(path, PARAMETERS_KEY)


def read_request(path: str | os.PathLike[str]) -> GenerationRequest | None:
    """The GenerationRequest recorded in an image, or None when absent or malformed.

    An unreadable or missing file raises OSError (PIL.UnidentifiedImageError included).
    """
    text = _read_text(path, REQUEST_KEY)
    if text is None:
        return None
    try:
        return GenerationRequest.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring malformed %s chunk in %s: %s", REQUEST_KEY, path, exc)
        return None


def read_record(path: str | os.PathLike[str], key: str) -> dict[str, object] | None:
    """The JSON object in chunk ``key`` (WATERMARK_KEY, REPLAY_KEY), or None when absent or
    malformed. An unreadable or missing file raises OSError."""
    text = _read_text(path, key)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        log.warning("ignoring malformed %s chunk in %s", key, path)
        return None
    return record


def read_watermark_record(path: str | os.PathLike[str]) -> dict[str, object] | None:
    return read_record(path, WATERMARK_KEY)


def parse_parameters(text: str) -> tuple[str, str, dict[str, str]]:
    """Split an A1111 ``parameters`` text into (prompt, negative prompt, key/value pairs).

    The pairs come from the last line that holds ``Steps:`` or ``Seed:``; quoted values are
    unquoted. A text without such a line is all prompt.
    """
    lines = text.split("\n")
    fields: dict[str, str] = {}
    for index in range(len(lines) - 1, -1, -1):
        pairs = {k.strip(): v for k, v in _PARAM_RE.findall(lines[index])}
        if "Steps" in pairs or "Seed" in pairs:
            fields = {k: _unquote(v.strip()) for k, v in pairs.items()}
            lines = lines[:index]
            break
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        if negative_lines is None and line.startswith(_NEGATIVE):
            negative_lines = [line[len(_NEGATIVE) :].lstrip()]
        elif negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    return "\n".join(prompt_lines), "\n".join(negative_lines or []), fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value
    return value


def request_from_parameters(text: str) -> GenerationRequest | None:
    """A GenerationRequest rebuilt from A1111 ``parameters`` text (e.g. a PNG made by
    another tool), or None when it holds no generation settings. Pixels and regions are
    not in that text: the result describes txt2img, or img2img when it has a strength.
    """
    prompt, negative, fields = parse_parameters(text)
    if not fields:
        return None
    changes: dict[str, object] = {"prompt": prompt, "negative_prompt": negative}
    try:
        if "Steps" in fields:
            changes["steps"] = int(fields["Steps"])
        if "Seed" in fields:
            changes["seed"] = int(fields["Seed"])
        if "CFG scale" in fields:
            changes["guidance"] = float(fields["CFG scale"])
        if "Distilled CFG Scale" in fields:  # Forge's FLUX pictures: their guidance
            changes["guidance"] = float(fields["Distilled CFG Scale"])
        if "Shift" in fields:  # flow-matching models' sigma shift
            changes["shift"] = float(fields["Shift"])
        if "Denoising strength" in fields:
            changes["strength"] = float(fields["Denoising strength"])
        if "Mask blur" in fields:
            changes["mask_blur"] = int(fields["Mask blur"])
        if "Size" in fields:
            width, height = fields["Size"].lower().split("x")
            changes["width"], changes["height"] = int(width), int(height)
    except ValueError as exc:
        log.warning("ignoring unreadable generation parameters: %s", exc)
        return None
    sampler = fields.get("Sampler", "")
    schedule = fields.get("Schedule type", "")
    if sampler:
        # Newer A1111 writes "Sampler: DPM++ 2M, Schedule type: Karras".
        if (
            schedule
            and schedule.lower() not in ("automatic", "uniform")
            and schedule not in sampler
        ):
            sampler = f"{sampler} {schedule}"
        changes["scheduler"] = sampler
    if fields.get("Model"):
        changes["model"] = fields["Model"]
    if fields.get("Precision") in ("fp32", "bf16", "fp16"):
        changes["precision"] = fields["Precision"]
    keys = [k for k in fields if re.fullmatch(r"ControlNet \d+", k)]
    controls = [
        spec_from_parameters(fields[k]) for k in sorted(keys, key=lambda k: int(k.split()[1]))
    ]
    if any(controls):
        changes["controls"] = tuple(c for c in controls if c is not None)
    mode = "img2img" if "Denoising strength" in fields else "txt2img"
    return GenerationRequest(mode=mode).replace(**changes)
