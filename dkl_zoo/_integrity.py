"""Content checks of weights files, kept free of huggingface_hub so packaged models load without it.

The expected hash is the registry's sha256 pin when there is one, else what the Hub reported for the file:
its ETag, the sha256 for LFS files, the git blob sha1 for small ones.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import IntegrityError, NoRecordedHashError

__all__ = [
    "LocatedFile",
    "VerifiedFile",
    "file_digest",
    "git_blob_sha1",
    "verify_file",
    "verify",
    "verify_or_discard",
    "discard",
    "state_dict_sha256",
]

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
"""A sha256 as this package writes and compares it: 64 lowercase hex digits."""
SHA1_HEX = re.compile(r"^[0-9a-f]{40}$")
"""A git object id (a commit, a small file's blob): 40 lowercase hex digits."""
_CHUNK = 8 * 1024 * 1024
_REFETCH_HINT = (
    "The copy is corrupt, was modified, or the server sent other bytes than it announced. It was removed "
    "from the cache: load again to fetch a fresh copy (nothing to delete by hand)."
)


@dataclass(frozen=True)
class LocatedFile:
    """A local copy of the weights and what its content must hash to; not checked yet."""

    path: Path
    revision: str
    expected_sha256: str | None
    hub_etag: str | None
    cache_files: tuple[Path, ...] = ()
    """Cache entries to delete when the content fails its check (never a packaged file)."""


@dataclass(frozen=True)
class VerifiedFile:
    """A local weights file whose content has been checked, and against what."""

    path: Path
    sha256: str
    revision: str
    checked_against: str


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, hashed straight from a read-only memory map (no copy; hashlib drops the GIL)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return digest.hexdigest()
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            digest.update(mapped)
    return digest.hexdigest()


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """The git object id of a file: what the Hub reports as ETag for files not stored in LFS."""
    size = os.path.getsize(path)
    digest = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, expected_sha256: str | None, hub_etag: str | None) -> tuple[str, str]:
    """Check ``path``; return (its sha256, what it was checked against). Raises ``IntegrityError``."""
    actual = file_digest(path)
    if expected_sha256 is not None:
        if actual != expected_sha256.lower():
            raise IntegrityError(str(path), expected_sha256.lower(), actual, hint=_REFETCH_HINT)
        return actual, "sha256 pin"
    if hub_etag is None:
        raise NoRecordedHashError(str(path))
    if SHA256_HEX.match(hub_etag):
        if actual != hub_etag:
            raise IntegrityError(str(path), hub_etag, actual, hint=_REFETCH_HINT)
        return actual, "sha256 reported by the Hub (LFS ETag)"
    git_sha = git_blob_sha1(path)
    if git_sha != hub_etag:
        raise IntegrityError(str(path), hub_etag, git_sha, algorithm="git blob sha1", hint=_REFETCH_HINT)
    return actual, "git blob sha1 reported by the Hub (ETag)"


def verify(located: LocatedFile) -> VerifiedFile:
    """Hash the located file and compare; raises ``IntegrityError`` (the file must then not be used)."""
    sha256, against = verify_file(located.path, expected_sha256=located.expected_sha256, hub_etag=located.hub_etag)
    return VerifiedFile(path=located.path, sha256=sha256, revision=located.revision, checked_against=against)


def discard(located: LocatedFile) -> None:
    """Delete ``located``'s cache entries (snapshot link and blob), so the next load fetches a fresh copy."""
    for path in located.cache_files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def verify_or_discard(located: LocatedFile) -> VerifiedFile:
    """``verify``; a file that fails is first removed from the cache (the cache heals on the next load)."""
    try:
        return verify(located)
    except NoRecordedHashError:
        raise  # nothing is known to be wrong with the file: kept, an online load records its hash
    except IntegrityError:
        discard(located)
        raise


def state_dict_sha256(model: Any, *, names: bool = False, salt: str = "") -> str:
    """sha256 over a model's state dict: ``salt``, then for every tensor in key order its dtype, shape and bytes,
    and its key with ``names``. The one hash of weights held in memory (an evaluation state's model, predict's
    export of weights that came from no verified file)."""
    import torch  # here, not at import: importing the package stays free of torch

    digest = hashlib.sha256(salt.encode())
    for name, tensor in model.state_dict().items():
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|".encode() if names else b"")
        digest.update(f"{data.dtype}{tuple(data.shape)};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
