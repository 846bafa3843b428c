"""Image files: which files of a folder are images, and reading one whole, or saying exactly why it cannot be.

A folder is searched recursively in sorted order (the same order on every machine) and only files with an
image extension are taken, as timm's ``ImageDataset`` does. A file named explicitly is always tried. Reading
decodes the whole file at once, so a truncated file fails here and not halfway through a batch, and an image
over PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is refused before it is decoded.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import ImageReadError, InvalidArgumentError

if TYPE_CHECKING:
    import torch
    from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "iter_image_files", "open_image", "read_image", "read_png_16bit"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
"""File endings taken from a folder (case-insensitive); other files there are skipped."""


def _walk_sorted(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, depth first, each folder's entries sorted by name; one folder listed at a time."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise ImageReadError(str(folder), f"cannot list this folder ({error.strerror or error})") from None
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk_sorted(Path(entry.path))
            elif entry.is_file():
                yield Path(entry.path)
        except OSError:  # a symlink that loops: taken, so that reading it names the file and the cause
            yield Path(entry.path)


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Each path that is a file, and the image files of each folder (recursively, sorted), in the order given.

    Raises:
        InvalidArgumentError: a path that does not exist (checked for all of them before any is listed).
    """
    from ._terminal import printable

    given = [Path(p) for p in paths]
    kinds = [_kind(p) for p in given]  # one stat per path: predict(model, [file]) runs this on every call
    looping = [printable(str(p)) for p, kind in zip(given, kinds) if kind == "dangling"]
    if looping:
        raise InvalidArgumentError(f"a symbolic link that loops or points nowhere: {', '.join(looping)}")
    missing = [printable(str(p)) for p, kind in zip(given, kinds) if kind == "missing"]
    if missing:
        raise InvalidArgumentError(f"no such file or folder: {', '.join(missing)}")
    for path, kind in zip(given, kinds):
        if kind == "folder":
            for file in _walk_sorted(path):
                if file.suffix.lower() in IMAGE_EXTENSIONS:
                    yield file
        else:
            yield path


def _kind(path: Path) -> str:
    """ "folder", "other" (a file, or something reading will name), "dangling" (a symlink to nothing or a loop)
    or "missing"."""
    import stat

    try:
        return "folder" if stat.S_ISDIR(os.stat(path).st_mode) else "other"
    except (FileNotFoundError, NotADirectoryError):
        return "dangling" if os.path.lexists(path) else "missing"
    except OSError:
        return "dangling" if os.path.islink(path) else "other"  # a loop (ELOOP); others are said when read


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _check_regular_file(path: Path) -> None:
    """Refuse what is not a regular file before a byte is read: a device such as /dev/zero never ends."""
    import errno
    import stat

    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageReadError(str(path), "no such file") from None
    except PermissionError:
        raise ImageReadError(str(path), "cannot be read: permission denied") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageReadError(str(path), "a symbolic link that loops (too many levels of symbolic links)") from None
        raise ImageReadError(str(path), f"cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError(str(path), "is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageReadError(str(path), "not a regular file (a device, a pipe or a socket): only image files are read")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_warned_8bit = False


def read_png_16bit(path: str | os.PathLike[str]) -> torch.Tensor | None:
    """A PNG of 16 bits per sample in colour (48-bit RGB, 64-bit RGBA) or grey with alpha, as a float C×H×W tensor
    at full depth (k / 65535), upright by EXIF; None for any other file, which PIL reads at its own depth.

    Pillow reduces such files to 8 bits; torchvision's ``decode_png`` reads them whole. Without torchvision the
    file is read by Pillow at 8 bits, and this is said once.
    """
    path = Path(path)
    _check_regular_file(path)
    try:
        handle = open(path, "rb")
    except OSError:
        return None  # open_image says why
    with handle:
        return _deep_png(path, handle)


def _deep_png(path: Path, handle: BinaryIO) -> torch.Tensor | None:
    """The rest of ``read_png_16bit`` on an open file at its start: reads the whole file only when it is one."""
    head = handle.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    bit_depth, colour_type = head[24], head[25]
    if bit_depth != 16 or colour_type not in (2, 4, 6):  # 16-bit grey alone PIL reads whole (mode I;16)
        return None
    from PIL import Image

    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
        raise ImageReadError(
            str(path),
            f"too large to decode safely ({width}×{height} pixels, over the "
            f"decompression-bomb limit of {Image.MAX_IMAGE_PIXELS})",
        )
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 points at TorchCodec; it still decodes
            warnings.simplefilter("ignore", DeprecationWarning)
            import torchvision.io as tvio
    except ImportError:
        global _warned_8bit
        if not _warned_8bit:
            _warned_8bit = True
            warnings.warn(
                f"{path} has 16 bits per sample, and is read reduced to 8 bits (Pillow's depth): install "
                "torchvision to keep the full depth (said once)",
                RuntimeWarning,
                stacklevel=4,
            )
        return None
    import io

    import torch

    data = head + handle.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pixels = tvio.decode_png(
                torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=tvio.ImageReadMode.UNCHANGED
            )
    except RuntimeError as error:
        raise ImageReadError(str(path), f"cannot be decoded ({str(error).splitlines()[0]})") from None
    image = pixels.to(torch.float32) / 65535.0 if pixels.dtype != torch.uint8 else pixels.float() / 255.0
    return _exif_upright(image, io.BytesIO(data))


def _exif_upright(image: torch.Tensor, source: Path | BinaryIO) -> torch.Tensor:
    """``image`` (C×H×W) turned as PIL's ``ImageOps.exif_transpose`` turns the file's picture."""
    from PIL import Image

    with Image.open(source) as picture:
        orientation = picture.getexif().get(0x0112, 1)
    turns = {
        2: lambda x: x.flip(-1),
        3: lambda x: x.flip(-1, -2),
        4: lambda x: x.flip(-2),
        5: lambda x: x.transpose(-1, -2),
        6: lambda x: x.rot90(-1, (-2, -1)),
        7: lambda x: x.transpose(-1, -2).flip(-1, -2),
        8: lambda x: x.rot90(1, (-2, -1)),
    }
    turn = turns.get(orientation)
    return turn(image).contiguous() if turn is not None else image


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """The image in ``path``, decoded whole and turned upright (EXIF orientation).

    Raises:
        ImageReadError: the file is empty, truncated, not an image, over the decompression-bomb limit, or
            cannot be read (``reason`` says which).
    """
    return _read(Path(path), deep=False)  # type: ignore[return-value]  # deep=False: never a tensor


def read_image(path: str | os.PathLike[str]) -> torch.Tensor | Image.Image:
    """What the transforms read from a file, opening it once: a 16-bit colour PNG at full depth as a C×H×W
    tensor (``read_png_16bit``), anything else as ``open_image`` gives it.

    Raises:
        ImageReadError: as ``open_image``.
    """
    return _read(Path(path), deep=True)


def _read(path: Path, *, deep: bool) -> torch.Tensor | Image.Image:
    from PIL import Image, ImageOps, UnidentifiedImageError

    _check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            if deep:
                tensor = _deep_png(path, handle)
                if tensor is not None:
                    return tensor
                handle.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(handle)
            try:
                image.load()
                if image.getexif().get(0x0112, 1) != 1:
                    result = ImageOps.exif_transpose(image)
                elif getattr(image, "n_frames", 1) == 1:
                    return image  # one frame, decoded whole: the file is not read again
                else:
                    result = image.copy()  # more frames (GIF, TIFF): keep the first, let go of the file
            except BaseException:
                image.close()
                raise
            image.close()
            return result
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageReadError(str(path), f"too large to decode safely ({error})") from None
    except UnidentifiedImageError:
        if _is_empty(path):
            raise ImageReadError(str(path), "empty file (0 bytes)") from None
        raise ImageReadError(str(path), "not an image (no image format recognises it)") from None
    except PermissionError:
        raise ImageReadError(str(path), "cannot be read: permission denied") from None
    except IsADirectoryError:
        raise ImageReadError(str(path), "is a folder, not a file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        text = str(error) or type(error).__name__
        reason = "truncated image file" if "truncated" in text.lower() else f"cannot be decoded ({text})"
        raise ImageReadError(str(path), reason) from None
