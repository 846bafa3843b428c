"""Predictions written as they come, as a table, JSON or CSV (``dkl-zoo predict --format``).

Each writer takes one result at a time (a ``Prediction``, or the ``ImageReadError`` of a file that could not be
read) and holds nothing back, so a folder of 100,000 images streams in constant memory. JSON is one array with
an object per input: ``{"path", "index", "label", "probability", "top_k": [{"index", "label", "probability"}]}``
or ``{"path", "error"}``. CSV has one row per input, the top-k classes in numbered columns and an ``error``
column. ``write_atomically`` puts a whole stream into a file, or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from typing import TextIO

from .._choices import PREDICTION_FORMATS
from .._terminal import printable
from ..errors import ImageReadError
from ..prediction import Prediction

__all__ = ["WRITERS", "TableWriter", "JsonWriter", "CsvWriter", "write_atomically"]


class TableWriter:
    """One line per input: probability, label, file, then the other top-k classes. File names are printed safely
    (control characters escaped, the name quoted, as ``ls`` does): a table goes to a terminal."""

    def __init__(self, out: TextIO, top_k: int) -> None:
        self.out, self.top_k = out, top_k

    def write(self, result: Prediction | ImageReadError) -> None:
        if isinstance(result, ImageReadError):
            self.out.write(f"  error  {printable(result.path)}: {printable(result.reason, quote=False)}\n")
            return
        others = ", ".join(f"{label} {100 * p:.1f} %" for label, p in result.top_k[1:])
        self.out.write(
            f"{100 * result.probability:5.1f} %  {result.label:<13} {printable(result.source or '')}"
            + (f"   ({others})" if others else "")
            + "\n"
        )

    def close(self) -> None:
        self.out.flush()


class JsonWriter:
    """A JSON array, written object by object."""

    def __init__(self, out: TextIO, top_k: int) -> None:
        self.out, self.first = out, True
        self.out.write("[")

    def write(self, result: Prediction | ImageReadError) -> None:
        item = {"path": result.path, "error": result.reason} if isinstance(result, ImageReadError) else result.to_dict()
        self.out.write(("\n  " if self.first else ",\n  ") + json.dumps(item, ensure_ascii=False))
        self.first = False

    def close(self) -> None:
        self.out.write("\n]\n" if not self.first else "]\n")
        self.out.flush()


class CsvWriter:
    """path, index, label, probability, top{i}_index / top{i}_label / top{i}_probability, error."""

    def __init__(self, out: TextIO, top_k: int) -> None:
        self.out, self.top_k = out, top_k
        self.writer = csv.writer(out, lineterminator="\n")
        columns = ["path", "index", "label", "probability"]
        for i in range(1, top_k + 1):
            columns += [f"top{i}_index", f"top{i}_label", f"top{i}_probability"]
        self.writer.writerow(columns + ["error"])

    def write(self, result: Prediction | ImageReadError) -> None:
        if isinstance(result, ImageReadError):
            self.writer.writerow([result.path] + [""] * (3 + 3 * self.top_k) + [result.reason])
            return
        row: list[object] = [result.source or "", result.index, result.label, f"{result.probability:.6f}"]
        for i in range(self.top_k):
            if i < len(result.top_k):
                row += [result.top_k_indices[i], result.top_k[i][0], f"{result.top_k[i][1]:.6f}"]
            else:
                row += ["", "", ""]
        self.writer.writerow(row + [""])

    def close(self) -> None:
        self.out.flush()


WRITERS: dict[str, Callable[[TextIO, int], TableWriter | JsonWriter | CsvWriter]] = dict(
    zip(PREDICTION_FORMATS, (TableWriter, JsonWriter, CsvWriter))
)


def write_atomically(path: str | os.PathLike[str], stream: Callable[[TextIO], None]) -> None:
    """Run ``stream`` on a text file beside ``path`` and rename it onto ``path`` at the end; on any failure or
    interrupt ``path`` keeps what it held and no temporary file is left."""
    from .._atomic import atomic_write

    def write(out) -> None:  # type: ignore[no-untyped-def]
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        stream(text)
        text.flush()
        text.detach()

    atomic_write(path, write)
