"""PNG files of 16 bits per sample written byte by byte (Pillow writes none in colour, torchvision none at all),
so the tests hold files whose full depth is known."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
"""Channels → PNG colour type: grey, grey + alpha, RGB, RGBA."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path: Path, pixels: np.ndarray, *, exif_orientation: int | None = None) -> Path:
    """``pixels`` (H×W×C uint16, C in 1..4) as a 16-bit PNG; with ``exif_orientation`` an eXIf chunk saying it."""
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 16, _COLOUR_TYPES[channels], 0, 0, 0)
    rows = b"".join(b"\x00" + pixels[r].astype(">u2").tobytes() for r in range(height))
    chunks = [_chunk(b"IHDR", header)]
    if exif_orientation is not None:  # a big-endian TIFF header with one IFD entry: tag 0x0112, SHORT
        exif = (
            b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHH", 1, 0x0112, 3, 1, exif_orientation, 0) + b"\x00" * 4
        )
        chunks.append(_chunk(b"eXIf", exif))
    chunks += [_chunk(b"IDAT", zlib.compress(rows)), _chunk(b"IEND", b"")]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(chunks))
    return path
