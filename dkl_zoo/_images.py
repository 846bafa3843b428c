"""Image files: which files of a folder are images, and reading one whole, or saying exactly why it cannot be.

A folder is searched recursively in sorted order (the same order on every machine) and only files with an
image extension are taken, as timm's ``ImageDataset`` does. A file named explicitly is always tried. Reading
decodes the whole file at once, so a truncated file fails here and not halfway through a batch, and an image
over PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) is refused before it is decoded.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from .errors import ImageReadError, InvalidArgumentError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "iter_image_files", "open_image"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
"""File endings taken from a folder (case-insensitive); other files there are skipped."""


def _walk_sorted(folder: Path) -> Iterator[Path]:
    """Files under ``folder``, depth first, each folder's entries sorted by name; one folder listed at a time."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as error:
        raise ImageReadError(str(folder), f"cannot list this folder ({error.strerror or error})") from None
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_sorted(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def iter_image_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Each path that is a file, and the image files of each folder (recursively, sorted), in the order given.

    Raises:
        InvalidArgumentError: a path that does not exist (checked for all of them before any is listed).
    """
    given = [Path(p) for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise InvalidArgumentError(f"no such file or folder: {', '.join(missing)}")
    for path in given:
        if path.is_dir():
            for file in _walk_sorted(path):
                if file.suffix.lower() in IMAGE_EXTENSIONS:
                    yield file
        else:
            yield path


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def open_image(path: str | os.PathLike[str]) -> "Image.Image":
    """The image in ``path``, decoded whole and turned upright (EXIF orientation).

    Raises:
        ImageReadError: the file is empty, truncated, not an image, over the decompression-bomb limit, or
            cannot be read (``reason`` says which).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        try:
            image.load()
            if image.getexif().get(0x0112, 1) != 1:
                result = ImageOps.exif_transpose(image)
            elif image.fp is None:  # one frame, read whole: PIL has closed the file already
                return image
            else:
                result = image.copy()  # more frames (GIF, TIFF): keep the first, let go of the file
        except BaseException:
            image.close()
            raise
        image.close()
        return result
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
