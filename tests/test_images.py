"""Image files: folders in sorted order, and each kind of unreadable file named with its reason."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dkl_zoo._images import iter_image_files, open_image
from dkl_zoo.errors import ImageReadError, InvalidArgumentError


def png_bytes(pixels: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG that declares width×height pixels and holds none: PIL refuses it from the header alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def broken_files(folder: Path) -> dict[str, str]:
    """One file of each unreadable kind, and the reason each must give."""
    good = png_bytes(np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8))
    files = {
        "empty.png": (b"", "empty file (0 bytes)"),
        "truncated.png": (good[: len(good) // 2], "truncated"),
        "text.png": (b"just some text, not an image\n", "not an image"),
        "bomb.png": (huge_png_header(20000, 20000), "too large to decode safely"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


def test_each_unreadable_kind_is_named(tmp_path):
    for name, reason in broken_files(tmp_path).items():
        with pytest.raises(ImageReadError) as info:
            open_image(tmp_path / name)
        assert info.value.path == str(tmp_path / name) and reason in info.value.reason, (name, info.value.reason)
        assert str(info.value).startswith(f"{tmp_path / name}: ")


def test_a_file_that_cannot_be_read_is_permission_denied(tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(png_bytes(np.zeros((4, 4), dtype=np.uint8)))
    path.chmod(0)
    Image.init()  # every format plugin imported before privileges drop
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)  # root reads anything: become "nobody" for the read, as a user would be
    try:
        with pytest.raises(ImageReadError) as info:
            open_image(path)
    finally:
        if as_root:
            os.seteuid(0)
    assert info.value.reason == "cannot be read: permission denied"


def test_the_bomb_limit_is_pil_s_and_a_just_too_large_image_is_refused_too(tmp_path, monkeypatch):
    pixels = np.zeros((40, 40), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(png_bytes(pixels))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: over the warning limit, under 2x
    with pytest.raises(ImageReadError, match="too large to decode safely"):
        open_image(tmp_path / "x.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    assert open_image(tmp_path / "x.png").size == (40, 40)


def test_folders_are_searched_recursively_in_sorted_order_for_image_files(tmp_path):
    for name in ("b/2.png", "b/1.PNG", "a.jpg", "c/d/e.webp", "notes.txt", "c/.hidden.json", "z.tiff"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_image_files([tmp_path])]
    assert found == ["a.jpg", "b/1.PNG", "b/2.png", "c/d/e.webp", "z.tiff"]
    explicit = list(iter_image_files([tmp_path / "notes.txt", tmp_path / "b"]))  # a named file is always tried
    assert [p.name for p in explicit] == ["notes.txt", "1.PNG", "2.png"]


def test_missing_paths_are_all_named_before_any_is_listed(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no such file or folder: .*nope1, .*nope2"):
        list(iter_image_files([tmp_path / "nope1", tmp_path, tmp_path / "nope2"]))


def test_an_image_read_error_survives_pickling():
    import pickle

    error = ImageReadError("/x/y.png", "truncated image file")
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.path, again.reason, str(again)) == (
        ImageReadError,
        "/x/y.png",
        "truncated image file",
        str(error),
    )
