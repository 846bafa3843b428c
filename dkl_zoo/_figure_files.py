"""Figures written as files: the format checked from the file name before any slow work, the file written whole
(``atomic_write``) so an interrupted save leaves no half-written image."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import InvalidArgumentError

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["figure_format", "save_figure"]


def figure_format(path: str | os.PathLike[str]) -> str:
    """The image format matplotlib writes for ``path``'s ending (``png``, ``pdf``, ``svg``, ...).

    Raises:
        InvalidArgumentError: the ending names no format matplotlib can write.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if suffix not in known:
        raise InvalidArgumentError(
            f"cannot write a figure as {os.fspath(path)!r}: its ending names no image format; "
            f"use one of {', '.join('.' + k for k in sorted(known))}"
        )
    return suffix


def save_figure(figure: matplotlib.figure.Figure, path: str | os.PathLike[str]) -> None:
    """``figure`` written to ``path`` in the format its ending names, whole or not at all."""
    from ._atomic import atomic_write

    chosen = figure_format(path)
    atomic_write(path, lambda out: figure.savefig(out, format=chosen))
