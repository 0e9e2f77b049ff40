"""Invisible watermark on generated images: invisible-watermark's ``dwtDctSvd`` method.

As docs/ARCHITECTURE.md ("Watermark") records, ``dwtDct`` fails on some smooth saturated
images and never survives JPEG; ``dwtDctSvd`` round-trips through PNG on every image
tried. It is still best-effort, so every embed is verified by decoding it again, and an
image that cannot carry the mark (too small, pure white or blue, ...) is returned
unchanged with a log line; callers record provenance in the PNG metadata as well.

Written pictures carry the mark on their generated pixels only (`mark_generated`): pixels
nobody generated stay bit-identical. The box around the generated pixels goes into the PNG
metadata (engine.metadata.WATERMARK_KEY), since a decoder has to read the very blocks the
mark was written into.

The method is invisible-watermark's, bit for bit as its decoder reads it (the tests check
with the library's own decoder), but computed here on all blocks at once:

- The library's ``encode`` converts to YUV in uint8, so saturated colours lose their V
  channel (pure red comes back as (221, 17, 1)); writes the inverse wavelet transform
  into uint8 without clipping (values wrap); and swaps the horizontal and vertical detail
  bands. On noise that moves pixels by 18 levels on average, up to 255. Here the YUV
  round trip is in float and only the U channel's approximation band changes (mean
  change ~1 level).
- Its per-block Python loop (an SVD per 4x4 block) takes ~5 s to read a 2048² image here.
  The DCT of a block is orthonormal, so singular values and the rank-1 update of the
  largest one are the same on the block itself: one batched SVD does every block.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from engine.core.cvsafe import import_cv2
from engine.request import Box

log = logging.getLogger(__name__)

DEFAULT_PAYLOAD = b"OVERPAINT"
METHOD = "dwtDctSvd"
# invisible-watermark refuses images under 256*256 pixels; decoding smaller ones is noise.
MIN_PIXELS = 256 * 256
# Bits that may flip before a read no longer counts (72-bit payload: a random image
# matches with probability ~1e-15, while mild re-encoding still reads).
MAX_BIT_ERRORS = 4
# Rounding and clipping to uint8 can flip a few blocks' bits (noisy images: 1-2 bits at
# ~300²); embedding again into the result re-quantizes them and converges at once.
EMBED_PASSES = 3
# The library's defaults for dwtDctSvd: scales=[0, 36, 0] (U channel only), block=4.
SCALE = 36.0
BLOCK = 4
# OpenCV's float YUV centres U/V on 0.5, its uint8 YUV (what decoders see) on 128.
_UV_SHIFT = 127.5


def _bits(payload: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(payload, np.uint8)).astype(np.uint8)


def _check(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected HxWx3 or HxWx4 uint8 pixels, got {rgb.dtype} {rgb.shape}")


def _to_blocks(band: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(N, BLOCK, BLOCK) copies of the band's blocks in the library's order (row-major)."""
    r, c = band.shape[0] // BLOCK, band.shape[1] // BLOCK
    blocks = band[: r * BLOCK, : c * BLOCK].reshape(r, BLOCK, c, BLOCK).swapaxes(1, 2)
    return blocks.reshape(-1, BLOCK, BLOCK).copy(), r, c


def _from_blocks(band: np.ndarray, blocks: np.ndarray, r: int, c: int) -> None:
    band[: r * BLOCK, : c * BLOCK] = (
        blocks.reshape(r, c, BLOCK, BLOCK).swapaxes(1, 2).reshape(r * BLOCK, c * BLOCK)
    )


def _decode_bits(rgb: np.ndarray, n_bits: int) -> np.ndarray:
    """The library's decode: majority vote over blocks of ``(s0 mod SCALE) > SCALE/2``."""
    import pywt  # ~15 ms to import: only when a mark is made or read

    cv2 = import_cv2()
    h, w = (rgb.shape[0] // 4) * 4, (rgb.shape[1] // 4) * 4
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w, 2::-1]), cv2.COLOR_BGR2YUV)
    approx, _ = pywt.dwt2(yuv[..., 1].astype(np.float64), "haar")
    blocks, _, _ = _to_blocks(approx)
    # Largest singular value via the Gram matrix's top eigenvalue: same values, ~2x faster
    # than a batched SVD, and decoding runs after every generation.
    gram = np.swapaxes(blocks, 1, 2) @ blocks
    s0 = np.sqrt(np.maximum(np.linalg.eigvalsh(gram)[:, -1], 0.0))
    scores = (s0 % SCALE) > SCALE * 0.5
    index = np.arange(len(blocks)) % n_bits
    votes = np.bincount(index, weights=scores, minlength=n_bits)
    counts = np.maximum(np.bincount(index, minlength=n_bits), 1)
    return (votes / counts * 255 > 127).astype(np.uint8)


def _encode(rgb: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """The library's embedding: each block's largest singular value is quantized to
    ``(s0 // SCALE + 0.25 + 0.5 * bit) * SCALE``, in float and on all blocks at once."""
    import pywt  # ~15 ms to import: only when a mark is made or read

    cv2 = import_cv2()
    h, w = (rgb.shape[0] // 4) * 4, (rgb.shape[1] // 4) * 4
    yuv = cv2.cvtColor(np.ascontiguousarray(rgb[..., 2::-1]).astype(np.float32), cv2.COLOR_BGR2YUV)
    u = yuv[:h, :w, 1].astype(np.float64) + _UV_SHIFT
    approx, details = pywt.dwt2(u, "haar")
    blocks, r, c = _to_blocks(approx)
    left, s, right = np.linalg.svd(blocks)
    bit = bits[np.arange(len(blocks)) % len(bits)]
    s0 = s[:, 0]
    target = (np.floor(s0 / SCALE) + 0.25 + 0.5 * bit) * SCALE
    blocks += (target - s0)[:, None, None] * (left[:, :, :1] @ right[:, :1, :])
    _from_blocks(approx, blocks, r, c)
    yuv[:h, :w, 1] = pywt.idwt2((approx, details), "haar") - _UV_SHIFT
    bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    return np.clip(np.rint(bgr), 0, 255).astype(np.uint8)[..., ::-1]


def embed_watermark(rgba: np.ndarray, payload: bytes = DEFAULT_PAYLOAD) -> np.ndarray:
    """A copy of ``rgba`` (HxWx3, or HxWx4 with alpha kept) carrying ``payload``.

    Returns the input unchanged (and logs why) when the image is too small or the mark
    does not read back exactly.
    """
    marked = _embed(rgba, payload)
    return rgba if marked is None else marked


def _embed(rgb: np.ndarray, payload: bytes, keep: np.ndarray | None = None) -> np.ndarray | None:
    """The marked copy, or None when it cannot carry the mark; pixels where ``keep`` is
    True stay as they are (the mark must then read back from the others)."""
    _check(rgb)
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        log.info("watermark skipped: %dx%d is below %d pixels", w, h, MIN_PIXELS)
        return None
    bits = _bits(payload)
    marked = rgb.copy()
    try:
        for _ in range(EMBED_PASSES):
            marked[..., :3] = _encode(marked, bits)
            if keep is not None:
                marked[keep] = rgb[keep]
            read = _decode_bits(marked, len(bits))
            if np.array_equal(read, bits):
                return marked
    except Exception:
        log.exception("watermark embedding failed on a %dx%d image", w, h)
        return None
    log.warning(
        "watermark did not verify on a %dx%d image (%d of %d bits wrong); left unmarked",
        w,
        h,
        int(np.count_nonzero(read != bits)),
        len(bits),
    )
    return None


def add_patch(generated: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Mark in ``generated`` (HxW bool, in place) the pixels where a patch laid at (x, y)
    has alpha > 0; parts of the patch off the picture are ignored."""
    h, w = generated.shape
    ph, pw = alpha.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 > x0 and y1 > y0:
        generated[y0:y1, x0:x1] |= np.asarray(alpha)[y0 - y : y1 - y, x0 - x : x1 - x] > 0


def _bounds(generated: np.ndarray) -> Box | None:
    rows = np.flatnonzero(generated.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(generated.any(axis=0))
    x0, y0 = int(cols[0]), int(rows[0])
    return Box(x0, y0, int(cols[-1]) + 1 - x0, int(rows[-1]) + 1 - y0)


def mark_generated(
    rgba: np.ndarray, generated: np.ndarray, payload: bytes = DEFAULT_PAYLOAD
) -> tuple[np.ndarray, dict[str, object]]:
    """``rgba`` with the mark on its generated pixels only (``generated``: HxW bool, see
    `add_patch`), and the record for the PNG metadata: ``{"method", "box": [x, y, w, h]}``
    (the box around those pixels, where a decoder reads) when marked, else
    ``{"skipped": one sentence}`` and the pixels unchanged.

    The mark is written into the box and every pixel of it that was not generated is put
    back, so only generated pixels change; the box must then still read back the mark.
    """
    box = _bounds(generated)
    if box is None:
        return rgba, {"skipped": "The picture holds no generated pixels to mark."}
    if box.width * box.height < MIN_PIXELS:
        return rgba, {
            "skipped": f"The generated area ({box.width}x{box.height}) is too small to carry "
            f"the watermark, which needs {MIN_PIXELS} pixels."
        }
    rows, cols = slice(box.y, box.bottom), slice(box.x, box.right)
    keep = ~generated[rows, cols]
    marked = _embed(np.ascontiguousarray(rgba[rows, cols]), payload, keep if keep.any() else None)
    if marked is None:
        return rgba, {
            "skipped": f"The watermark did not read back from the generated area "
            f"({box.width}x{box.height}); it is too sparse or too flat to carry one."
        }
    out = rgba.copy()
    out[rows, cols] = marked
    return out, {"method": METHOD, "box": [box.x, box.y, box.width, box.height]}


def find_watermark(
    rgb: np.ndarray, box: Box | None = None, payloads: Sequence[bytes] = (DEFAULT_PAYLOAD,)
) -> str | None:
    """The payload found in ``box`` (where `mark_generated` put it), else in the whole
    picture (a mark from before marks were boxed); None when neither holds one."""
    if box is not None:
        found = read_watermark(rgb[box.y : box.bottom, box.x : box.right], payloads)
        if found is not None:
            return found
    return read_watermark(rgb, payloads)


def read_watermark(rgb: np.ndarray, payloads: Sequence[bytes] = (DEFAULT_PAYLOAD,)) -> str | None:
    """The payload (decoded as text) found in ``rgb``, or None.

    A mark can only be recognised, not discovered: the decoder needs its length and any
    image decodes to some bits, so the bits are compared with the known ``payloads``.
    """
    _check(rgb)
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        return None
    decoded: dict[int, np.ndarray] = {}
    for payload in payloads:
        bits = _bits(payload)
        if len(bits) not in decoded:
            decoded[len(bits)] = _decode_bits(rgb, len(bits))
        if np.count_nonzero(decoded[len(bits)] != bits) <= MAX_BIT_ERRORS:
            return payload.decode("utf-8", errors="replace")
    return None
