"""PNG generation metadata: the AUTOMATIC1111 ``parameters`` text plus the full request.

``parameters`` is what every SD tool reads (DESIGN.md §5); ``overpaint_request`` holds
``GenerationRequest.to_json()`` so ``overpaint rerun`` can replay a PNG exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine import __version__
from engine.request import GenerationRequest

log = logging.getLogger(__name__)

PARAMETERS_KEY = "parameters"
REQUEST_KEY = "overpaint_request"
_MASKED_MODES = ("inpaint", "outpaint", "fill")


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
    if request.loras:
        fields["Lora"] = ", ".join(f"{name}: {_plain(float(w))}" for name, w in request.loras)
    fields["Mode"] = request.mode
    fields.update(extra or {})
    fields["Version"] = f"overpaint {__version__}"
    line = ", ".join(f"{key}: {quote(value)}" for key, value in fields.items())

    text = request.prompt
    if request.negative_prompt:
        text += f"\nNegative prompt: {request.negative_prompt}"
    return f"{text}\n{line}"


def png_info(parameters: str | None, request: GenerationRequest | None) -> PngInfo:
    """PNG text chunks: ``parameters`` (tEXt, or iTXt for non-Latin-1) and the request JSON."""
    info = PngInfo()
    if parameters is not None:
        info.add_text(PARAMETERS_KEY, parameters)
    if request is not None:
        info.add_text(REQUEST_KEY, request.to_json(), zip=True)
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
) -> None:
    """Write a PNG with metadata atomically: an existing file is replaced whole or not at all.

    The bytes go to a temporary file in the same folder (same filesystem, so the rename is
    atomic), are fsynced, then renamed over ``path``. On any error the temporary file is
    removed and ``path`` is untouched.
    """
    target = Path(path)
    image = _to_image(rgba_or_rgb)
    info = png_info(parameters, request)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format="PNG", pnginfo=info)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        # BaseException too: Ctrl-C during a save must not leave a stray temp file.
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, harmless to skip.
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


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
