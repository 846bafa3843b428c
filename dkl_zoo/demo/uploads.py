"""The demo's uploads: read as ``dkl_zoo.predict`` reads a path, within the page's limits (``MAX_PIXELS``,
``MAX_UPLOAD``), then let go of: deleted once read (the API endpoints) or once ``KEPT_UPLOADS`` newer ones came
(the page). A pasted image (a data URL) is decoded here into the upload folder and read the same way."""

from __future__ import annotations

import collections
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    DklZooError,
    ImageReadError,
)

if TYPE_CHECKING:
    import torch

from .handlers import _message

MAX_PIXELS = 16_000_000
"""Larger images are refused before they are decoded: a 16-megapixel RGBA image takes 256 MB as float pixels,
which bounds the memory one request can take."""
MAX_UPLOAD = "25mb"
"""Gradio refuses larger uploads before they reach the app; a pasted image (a data URL) is held to the same size."""
MAX_UPLOAD_BYTES = 25 * 1000 * 1000
KEPT_UPLOADS = 8
"""The page's most recent uploads kept on disk (the picture shown is predicted, then attacked); older ones go."""


class _Uploads:
    """Uploaded files read as ``dkl_zoo.predict`` reads a path, within the page's limits, then let go of: deleted at
    once (``keep=0``, the API endpoints, where each upload serves one request) or once ``keep`` newer uploads
    came (the page). Only files inside Gradio's upload folder are ever deleted; the shipped examples never."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def read(self, gradio: Any, path: str, original_name: str | None) -> torch.Tensor:
        from PIL import Image

        from .._terminal import printable
        from ..transforms import to_tensor_image

        name = printable(original_name or "the upload")
        try:
            try:
                with Image.open(path) as header:  # the size, from the header alone
                    width, height = header.size
            except Image.DecompressionBombError:
                raise _message(
                    gradio,
                    f"{name}: far more pixels than this page takes ({MAX_PIXELS // 1_000_000} "
                    "megapixels; over the decompression-bomb limit)",
                ) from None
            except (OSError, SyntaxError, ValueError):
                width = height = 0  # not an image: open_image says exactly why
            if width * height > MAX_PIXELS:
                raise _message(
                    gradio,
                    f"{name}: {width}×{height} pixels is more than this page takes "
                    f"({MAX_PIXELS // 1_000_000} megapixels): scale it down, or use dkl_zoo.predict",
                )
            return to_tensor_image(path)  # read as predict reads a path: every check, 16 bits kept
        except gradio.Error:
            raise
        except ImageReadError as error:
            raise _message(gradio, f"{name}: {error.reason}") from None
        except DklZooError as error:
            raise _message(gradio, f"{name}: {error}") from None
        finally:
            self._let_go(path)

    def _let_go(self, path: str) -> None:
        if not _inside(path, _upload_folder()) or _is_example(path):
            return
        with self._lock:
            self._recent[path] = None
            self._recent.move_to_end(path)
            old = list(self._recent)[: max(0, len(self._recent) - self.keep)]
            for stale in old:
                del self._recent[stale]
        for stale in old:
            _delete_upload(stale)


def _upload_folder() -> Path | None:
    from ..settings import gradio_temp_dir

    return gradio_temp_dir()


def _inside(path: str, folder: Path | None) -> bool:
    return folder is not None and Path(path).resolve().is_relative_to(folder)


def _is_example(path: str) -> bool:
    from ..examples import example_images

    return Path(path).name in {example.path.name for example in example_images()}


def _delete_upload(path: str) -> None:
    """The file, and the folder Gradio made for it when that is left empty."""
    target = Path(path)
    try:
        target.unlink(missing_ok=True)
        target.parent.rmdir()
    except OSError:
        pass


def _decode_data_url(gradio: Any, url: str) -> str:
    """A pasted image (``data:image/...;base64,...``) written to a file in Gradio's upload folder, within the size an
    uploaded file may have, so that it is read by the same reader with the same limits."""
    import base64
    import binascii
    import urllib.parse

    header, _, data = url.partition(",")
    if len(data) * 3 // 4 > MAX_UPLOAD_BYTES:
        raise _message(gradio, f"the pasted image is larger than this page takes ({MAX_UPLOAD})")
    try:
        raw = (
            base64.b64decode(data, validate=True) if header.endswith(";base64") else urllib.parse.unquote_to_bytes(data)
        )
    except (binascii.Error, ValueError):
        raise _message(gradio, "the pasted data is not an image (its base64 does not decode)") from None
    folder = _upload_folder() or Path(tempfile.gettempdir())
    handle, name = tempfile.mkstemp(prefix="pasted-", suffix=".img", dir=folder)
    with os.fdopen(handle, "wb") as out:
        out.write(raw)
    return name


def _image_input(gradio: Any, *, keep: int, **kwargs: Any) -> Any:
    """A ``gradio.Image`` input whose uploads ``dkl_zoo`` reads as ``dkl_zoo.predict`` reads a path (upright by
    EXIF, decompression bombs refused, 16 bits kept): a file that is not an image, an empty or a truncated one is
    a message in the page, not a traceback. A pasted image is read the same way. The value handed on is the image
    as a float C×H×W tensor."""
    from .._compat import read_gradio_uploads

    uploads = _Uploads(keep)

    def read(path: str | None, original_name: str | None, data_url: str | None) -> torch.Tensor:
        if data_url is not None:
            return uploads.read(gradio, _decode_data_url(gradio, data_url), "the pasted image")
        assert path is not None
        return uploads.read(gradio, path, original_name)

    component = gradio.Image(type="pil", image_mode=None, format="png", **kwargs)
    read_gradio_uploads(component, read)
    return component
