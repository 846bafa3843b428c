"""Files written whole or not at all: a temporary file beside the target, then a rename.

A reader (or a run resumed after a kill) never sees half a state file, checkpoint, record or pins file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["atomic_write", "atomic_write_text", "remove_quietly", "default_file_mode"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` with a binary file beside ``path``, flush it to disk, then rename it onto ``path``.

    The file gets the mode ``open()`` would give it (0666 less the umask), so on a lab's shared cache other users
    read it as they read huggingface_hub's files. On any failure (or an interrupt) the temporary file is removed
    and ``path`` keeps what it held.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fchmod(out.fileno(), default_file_mode())  # mkstemp's 0600 would lock others out of a shared cache
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """``atomic_write`` of UTF-8 text."""
    atomic_write(path, lambda out: out.write(text.encode("utf-8")))


def remove_quietly(path: str | os.PathLike[str]) -> None:
    """Delete ``path`` if it is there; a file that cannot be deleted is left (cleanup must not hide the error
    that led to it)."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def default_file_mode() -> int:
    """The mode a new file gets from ``open()`` here (0666 less the umask), which ``mkstemp`` does not apply."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
