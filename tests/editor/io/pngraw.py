"""A minimal PNG writer for tests: 16-bit and odd headers that Pillow itself won't write."""

from __future__ import annotations

import struct
import zlib

import numpy as np

# PNG colour types.
GREY, RGB, PALETTE, GREY_ALPHA, RGBA = 0, 2, 3, 4, 6


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bytes(
    width: int, height: int, bit_depth: int, colour_type: int, rows: bytes, extra: bytes = b""
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png16(values: np.ndarray, colour_type: int) -> bytes:
    """Encode an HxW or HxWxC uint16 array as a 16-bit PNG (filter 0 on every row)."""
    big_endian = values.astype(">u2")
    height, width = big_endian.shape[:2]
    rows = b"".join(b"\x00" + big_endian[y].tobytes() for y in range(height))
    return png_bytes(width, height, 16, colour_type, rows)
