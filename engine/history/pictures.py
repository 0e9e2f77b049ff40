"""The input pictures of history entries, so img2img and inpaint entries can be replayed.

Each picture is stored once, as a lossless PNG in the ``blobs`` table, under a hash of its
pixels and shape: the samples of one job, and jobs on an unchanged picture, share a copy.
``entry_inputs`` says which entry used which picture in which role:

- ``image``: the context crop the engine got (GenerationInputs.image);
- ``mask``: its mask crop;
- ``control:N``: the image of the request's N-th control;
- ``reference:N``: the picture of the request's N-th reference (an Edit's extra input,
  or an IP-Adapter's picture); ``reference-mask:N`` the mask of its region, if any;
- ``region:N``: the mask of the request's N-th regional prompt;
- ``base``: the whole picture a CLI run laid its result on. The ``image`` is then its
  crop at the request's region and is not stored a second time.

PNG keeps grey (masks), RGB and RGBA bytes exactly, including the colour under alpha 0,
so a replay gets the very arrays the engine got the first time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Mapping

import numpy as np
from PIL import Image

from engine.jobs import image_composite
from engine.request import Box, GenerationInputs, GenerationRequest

IMAGE, MASK, BASE = "image", "mask", "base"
_CONTROL = "control:"
_REFERENCE = "reference:"
_REFERENCE_MASK = "reference-mask:"
_REGION = "region:"
# The roles of pictures that come one per control, reference or region, and how a
# sentence names them.
_INDEXED = {
    _CONTROL: "control image",
    _REFERENCE: "reference picture",
    _REFERENCE_MASK: "reference region",
    _REGION: "region mask",
}
# Level 1: about half the time of the default for a few percent more bytes; the CLI
# encodes while it writes its own output, and the editor on its recorder thread.
PNG_LEVEL = 1
_MODES = {2: "L", 3: "RGB", 4: "RGBA"}


def pixel_hash(pixels: np.ndarray) -> bytes:
    """16 bytes naming the picture: its dtype, shape and pixel bytes."""
    arr = np.ascontiguousarray(pixels)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{arr.dtype.str}{arr.shape}".encode())
    digest.update(arr.tobytes() if arr.size == 0 else memoryview(arr).cast("B"))
    return digest.digest()


def _mode(pixels: np.ndarray) -> str:
    channels = 2 if pixels.ndim == 2 else (pixels.shape[2] if pixels.ndim == 3 else 0)
    if pixels.dtype != np.uint8 or channels not in _MODES or 0 in pixels.shape:
        raise ValueError(f"cannot store a {pixels.dtype} {pixels.shape} picture")
    return _MODES[channels]


def encode_picture(pixels: np.ndarray) -> bytes:
    """Lossless PNG bytes of an HxW, HxWx3 or HxWx4 uint8 array."""
    mode = _mode(pixels)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode).save(
        out, format="PNG", compress_level=PNG_LEVEL
    )
    return out.getvalue()


def decode_picture(data: bytes) -> np.ndarray:
    """The array encode_picture was given (HxW for grey)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.array(image)


def pictures_to_keep(
    request: GenerationRequest, inputs: GenerationInputs | None, base: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The pictures an entry needs to be replayed, by role (see the module docstring)."""
    if inputs is None:
        return {}
    pictures: dict[str, np.ndarray] = {}
    if base is not None:
        pictures[BASE] = base
    image = inputs.image
    if image is not None and not (base is not None and _crop_of(base, request.region, image)):
        pictures[IMAGE] = image
    if inputs.mask is not None:
        pictures[MASK] = inputs.mask
    for prefix, listed in (
        (_CONTROL, inputs.controls),
        (_REFERENCE, inputs.references),
        (_REFERENCE_MASK, inputs.reference_masks),
        (_REGION, inputs.region_masks),
    ):
        pictures.update({f"{prefix}{i}": p for i, p in enumerate(listed) if p is not None})
    return pictures


def _crop_of(base: np.ndarray, region: Box | None, image: np.ndarray) -> bool:
    if region is None:
        return False

    return bool(np.array_equal(image_composite(base)(region), image))


def needs_pictures(request: GenerationRequest) -> bool:
    """Whether the request ran on pixels: anything but a whole-canvas txt2img, any
    control that has an image of its own, a regional prompt (its mask) or a reference."""
    if any(spec.kind != "inpaint" for spec in request.controls) or request.regions:
        return True
    if request.references:
        return True
    if request.mode != "txt2img":
        return True
    whole = Box(0, 0, request.canvas_width, request.canvas_height)
    return request.region is not None and request.region != whole


def restore_inputs(
    request: GenerationRequest, pictures: Mapping[str, np.ndarray]
) -> tuple[GenerationInputs, np.ndarray | None]:
    """The job's GenerationInputs and the stored base picture (or None), from the
    pictures `pictures_to_keep` chose."""
    base = pictures.get(BASE)
    image = pictures.get(IMAGE)
    if image is None and base is not None and request.region is not None:
        image = image_composite(base)(request.region)

    def stored(prefix: str, count: int) -> tuple[np.ndarray | None, ...]:
        return tuple(pictures.get(f"{prefix}{i}") for i in range(count))

    inputs = GenerationInputs(
        image=image, mask=pictures.get(MASK), controls=stored(_CONTROL, len(request.controls))
    )
    regions = stored(_REGION, len(request.regions))
    if regions and all(r is not None for r in regions):
        inputs = dataclasses.replace(inputs, region_masks=regions)
    references = stored(_REFERENCE, len(request.references))
    if references and all(r is not None for r in references):
        masks = stored(_REFERENCE_MASK, len(references))
        inputs = dataclasses.replace(inputs, references=references, reference_masks=masks)
    return inputs, base


def role_name(role: str) -> str:
    """How a sentence names a role: "input picture", "mask", "control image 1", ..."""
    for prefix, label in _INDEXED.items():
        if role.startswith(prefix):
            return f"{label} {int(role[len(prefix) :]) + 1}"
    return {IMAGE: "input picture", MASK: "mask", BASE: "whole picture"}.get(role, role)
