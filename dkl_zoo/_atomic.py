"""Files written whole or not at all: a temporary file beside the target, then a rename.

A reader (or a run resumed after a kill) never sees half a state file, checkpoint, record or pins file. Only a
regular file (or nothing) is ever replaced: a device such as ``/dev/null``, a pipe, a folder or a read-only
file is refused by name before any work, since renaming over it would destroy it. Folders that a write had to
create are removed again when the write fails, so a failed command leaves the disk as it found it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InvalidArgumentError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_file",
    "checked_output",
    "existing_ancestor",
    "remove_quietly",
    "default_file_mode",
]


def existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (what a write there would have to create folders in)."""
    for parent in path.parents:
        if os.path.lexists(parent):
            return parent
    return Path(path.anchor or ".")


def checked_output(path: str | os.PathLike[str], *, writable: bool = True) -> Path:
    """``path`` as the file to write (a symlink followed to its target), refused when writing there would
    destroy something or cannot work: a folder, a device, a pipe or a socket, a read-only file, a folder that
    is a file, and (with ``writable``) a folder that cannot be written. Creates nothing.

    Raises:
        InvalidArgumentError: naming the path and what is wrong with it.
    """
    given = Path(path)
    if str(path) == "":
        raise InvalidArgumentError("the output path is empty; give a file name")
    target = Path(os.path.realpath(given))
    try:
        info = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    except OSError as error:
        raise InvalidArgumentError(f"cannot write {given}: {error.strerror or error}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise InvalidArgumentError(f"{given} is a folder; give a file name")
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgumentError(
                f"{given} is not a regular file (a device, a pipe or a socket): it would be replaced; give a file name"
            )
        if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise InvalidArgumentError(
                f"{given} is read-only: it is not replaced (make it writable, or choose another file name)"
            )
    ancestor = existing_ancestor(target)
    if not ancestor.is_dir():
        raise InvalidArgumentError(f"cannot create the folder of {given}: {ancestor} is not a folder")
    if writable and not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"cannot write {given}: the folder {ancestor} is not writable")
    return target


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, deepest last."""
    missing = [folder, *folder.parents]
    missing = [p for p in missing if not os.path.lexists(p)][::-1]
    for part in missing:
        part.mkdir()
    return missing


def _remove_folders(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return  # something else was put there meanwhile: leave it


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write into (for writers that need a file name, as exporters do);
    when the block ends normally the file is flushed to disk and renamed onto ``path``, otherwise it is removed,
    with any folder this call created. ``suffix`` is the temporary file's ending (some writers choose the
    format by it).

    Raises:
        InvalidArgumentError: ``path`` must not be replaced (see ``checked_output``).
        OSError: the file cannot be written (a folder without write permission, a full disk), as the system says.
    """
    target = checked_output(path, writable=False)  # the system's own error says why a write is not allowed
    created = _make_parents(target.parent)
    tmp: Path | None = None
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        os.close(handle)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as out:
            os.fchmod(out.fileno(), default_file_mode())  # mkstemp's 0600 would lock others out of a shared cache
            os.fsync(out.fileno())
        checked_output(path, writable=False)  # nothing else appeared in its place meanwhile
        os.replace(tmp, target)
        tmp = None
    except BaseException:
        if tmp is not None:
            remove_quietly(tmp)
        _remove_folders(created)
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` with a binary file beside ``path``, flush it to disk, then rename it onto ``path``.

    The file gets the mode ``open()`` would give it (0666 less the umask), so on a lab's shared cache other users
    read it as they read huggingface_hub's files. On any failure (or an interrupt) the temporary file is removed
    and ``path`` keeps what it held.

    Raises:
        InvalidArgumentError: ``path`` cannot or must not be replaced (see ``checked_output``).
    """
    with atomic_file(path) as tmp, open(tmp, "wb") as out:
        write(out)


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
