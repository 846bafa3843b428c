"""Where the original-release fallback keeps its files, and its one way of saying that the disk, not the
server, is the problem (a read-only cache, a file where a folder belongs, a full disk).

``<root>/original/<name>/``: the conversions of each entry and the record naming the one in use;
``<root>/known_originals.json``: the trust-on-first-use store. ``root`` is the ``cache_dir`` a caller gives
(its ``dkl_zoo`` folder), else ``DKL_ZOO_CACHE``, else ``~/.cache/dkl_zoo``.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from .. import settings
from ..errors import CacheError

__all__ = ["cache_root", "entry_folder", "local_cache"]


def cache_root(root: Path | None = None) -> Path:
    """``root`` when given, else ``DKL_ZOO_CACHE``, else ``~/.cache/dkl_zoo``."""
    return root if root is not None else settings.cache_root()[0]


def entry_folder(name: str, root: Path | None = None) -> Path:
    """The folder of one entry's conversions."""
    return cache_root(root) / "original" / name


@contextlib.contextmanager
def local_cache(root: Path | None, what: str) -> Iterator[None]:
    """A file-system failure in the cache (read-only, a file where a folder belongs, a full disk) raised as a
    ``CacheError`` naming the folder and the setting, not as a bare ``PermissionError``."""
    try:
        yield
    except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as error:
        raise _cache_error(root, what, error) from None
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise
        raise _cache_error(root, what, error) from None


def _cache_error(root: Path | None, what: str, error: OSError) -> CacheError:
    where, setting = (root, "the cache argument") if root is not None else settings.cache_root()
    name = f": {error.filename}" if error.filename else ""
    return CacheError(
        f"cannot {what} in the dkl_zoo cache {where} ({error.strerror or error}{name}); point "
        f"{setting} at a writable folder"
    )
