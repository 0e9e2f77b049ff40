"""Invisible watermark on generated images (invisible-watermark, method dwtDctSvd).

DESIGN.md §4: ``dwtDct`` fails on some smooth saturated images and never survives JPEG;
``dwtDctSvd`` round-trips through PNG on every image tried. It is still best-effort, so
every embed is verified by decoding it again, and an image that cannot carry the mark
(too small, or verification failed) is returned unchanged with a log line; callers record
provenance in the PNG metadata as well.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from engine.cvsafe import import_cv2, import_dwtdctsvd

log = logging.getLogger(__name__)

DEFAULT_PAYLOAD = b"OVERPAINT"
METHOD = "dwtDctSvd"
# invisible-watermark refuses images under 256*256 pixels; decoding smaller ones is noise.
MIN_PIXELS = 256 * 256
# Bits that may flip before a read no longer counts (72-bit payload: a random image
# matches with probability ~1e-15, while mild re-encoding still reads).
MAX_BIT_ERRORS = 4
EMBED_PASSES = 3
# The library's default strength for dwtDctSvd (its scales=[0, 36, 0]: U channel only).
SCALE = 36
# OpenCV's float YUV puts U/V around 0.5, its uint8 YUV (what the decoder sees) around 128.
_UV_SHIFT = 127.5


def _bits(payload: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(payload, np.uint8)).astype(np.uint8)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[..., 2::-1])


def _check(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"expected HxWx3 or HxWx4 uint8 pixels, got {rgb.dtype} {rgb.shape}")


def _decode_bits(rgb: np.ndarray, n_bits: int) -> np.ndarray:
    dwt = import_dwtdctsvd()
    decoder = dwt.EmbedDwtDctSvd(watermarks=[], wmLen=n_bits)
    return np.asarray(decoder.decode(_bgr(rgb)), dtype=np.uint8)


def _encode(rgb: np.ndarray, encoder: object) -> np.ndarray:
    """invisible-watermark's dwtDctSvd embedding, with its wrapper redone in float.

    The library's own ``encode`` converts to YUV in uint8 (saturated colours lose their
    V channel: pure red comes back as (221, 17, 1)), writes the inverse wavelet transform
    into uint8 without clipping (values wrap) and swaps the horizontal and vertical detail
    bands. On noise that changes pixels by 18 levels on average, up to 255. Here only the
    U channel's approximation band is touched, by the library's own ``encode_frame``; the
    library's decoder reads the result unchanged.
    """
    import pywt

    cv2 = import_cv2()
    bgr = _bgr(rgb).astype(np.float32)
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)  # float: U/V centred on 0.5, not 128
    h, w = (rgb.shape[0] // 4) * 4, (rgb.shape[1] // 4) * 4
    u = yuv[:h, :w, 1].astype(np.float64) + _UV_SHIFT
    approx, details = pywt.dwt2(u, "haar")
    encoder.encode_frame(approx, SCALE)  # type: ignore[attr-defined]
    yuv[:h, :w, 1] = pywt.idwt2((approx, details), "haar") - _UV_SHIFT
    out = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)[..., ::-1]


def embed_watermark(rgb: np.ndarray, payload: bytes = DEFAULT_PAYLOAD) -> np.ndarray:
    """A copy of ``rgb`` (HxWx3, or HxWx4 with alpha kept) carrying ``payload``.

    Returns the input unchanged (and logs why) when the image is too small or the mark
    does not read back exactly.
    """
    _check(rgb)
    h, w = rgb.shape[:2]
    if h * w < MIN_PIXELS:
        log.info("watermark skipped: %dx%d is below %d pixels", w, h, MIN_PIXELS)
        return rgb
    bits = _bits(payload)
    marked = rgb.copy()
    try:
        dwt = import_dwtdctsvd()
        encoder = dwt.EmbedDwtDctSvd(watermarks=list(bits), wmLen=len(bits), scales=[0, SCALE, 0])
        # Rounding and clipping to uint8 can flip a few blocks (noisy images, 1-2 bits at
        # ~300²); embedding again into the result re-quantizes them and converges fast.
        for _ in range(EMBED_PASSES):
            marked[..., :3] = _encode(marked, encoder)
            read = _decode_bits(marked, len(bits))
            if np.array_equal(read, bits):
                break
    except Exception:
        log.exception("watermark embedding failed on a %dx%d image", w, h)
        return rgb
    if not np.array_equal(read, bits):
        log.warning(
            "watermark did not verify on a %dx%d image (%d of %d bits wrong); left unmarked",
            w,
            h,
            int(np.count_nonzero(read != bits)),
            len(bits),
        )
        return rgb
    return marked


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
