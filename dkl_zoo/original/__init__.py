"""Fallback to the authors' original release while a Hub repo does not exist yet.

The original files live on Google Drive (the README's link first, RobustBench's copy second; ``.drive``).
They are downloaded, checked against their pin or trusted on first use (``.trust``), converted with
``.convert`` in a temporary folder (no pickle code ever runs), verified, and moved into the cache
(``.cache``), where later loads find them without network. When the registry pins a sha256,
a converted README file must match it (the conversion is deterministic); a mismatch means the Drive file
changed and is an ``IntegrityError``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

from .. import settings
from .._atomic import atomic_write_text
from .._integrity import SHA256_HEX
from ..errors import IntegrityError, OriginalReleaseError
from ..registry import ModelEntry
from .cache import entry_folder, local_cache
from .drive import SourceDownloads
from .trust import check_original, known_originals, known_originals_path, write_known_originals

__all__ = [
    "OriginalFile",
    "cached_original",
    "fetch_original",
    "forget_original",
    "cache_files",
    "known_originals_path",
]


class OriginalFile(NamedTuple):
    """A converted original file in the cache: its path, the sha256 it must have, and which source it came from."""

    path: Path
    sha256: str
    source: str


def _expected_sha256(entry: ModelEntry, source: str, recorded: str) -> str:
    """The registry pin wins over anything on disk for the README's file (the conversion is deterministic)."""
    return entry.weights.sha256 if entry.weights.sha256 and source.startswith("README") else recorded


def cached_original(entry: ModelEntry, root: Path | None = None) -> OriginalFile | None:
    """The converted file of an earlier fallback (path, the sha256 it must have, its source), or None; the caller
    verifies it.

    The record only says which source was used and what the file hashed to; the path is derived from that
    hash, and a registry pin overrides it. An unreadable record is removed (the cache heals on the next
    online load) and reads as "nothing cached".
    """
    record_path = entry_folder(entry.name, root) / "record.json"
    if not record_path.exists():
        return None
    try:
        record = json.loads(record_path.read_text())
        source, recorded = str(record["source"]), record["weights_sha256"]
        problem = None if isinstance(recorded, str) and SHA256_HEX.match(recorded) else "weights_sha256 is not a sha256"
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = str(error)
    if problem is not None:
        warnings.warn(
            f"{entry.name}: ignoring the corrupt record {record_path} ({problem}); it was removed and the "
            "original release is fetched again when online",
            UserWarning,
            stacklevel=3,
        )
        with local_cache(root, "remove a corrupt record"):
            record_path.unlink(missing_ok=True)
        return None
    expected = _expected_sha256(entry, source, recorded)
    path = record_path.parent / expected / "model.safetensors"
    if not path.exists():
        return None
    return OriginalFile(path, expected, source)


def cache_files(entry: ModelEntry, path: Path, root: Path | None = None) -> tuple[Path, ...]:
    """What to delete when a cached conversion fails its check: the file and the record pointing at it."""
    return (path, entry_folder(entry.name, root) / "record.json")


def fetch_original(entry: ModelEntry, *, root: Path | None = None, progress: bool = True) -> OriginalFile:
    """Download and convert the original release of ``entry``; returns the safetensors file, its sha256 and source.

    The caller hashes the file again when it loads it (as for every load).

    Raises:
        OriginalReleaseError: no source gave a checkpoint. IntegrityError: the file is not the pinned one.
        CacheError: the cache (``DKL_ZOO_CACHE``) cannot be written.
    """
    cached = cached_original(entry, root)
    if cached is not None:
        return cached
    with local_cache(root, f"keep the original release of {entry.name}"):
        return _fetch_into_cache(entry, root, progress)


def _fetch_into_cache(entry: ModelEntry, root: Path | None, progress: bool) -> OriginalFile:
    from .._integrity import file_digest
    from .convert import convert_checkpoint

    folder = entry_folder(entry.name, root)
    downloads = SourceDownloads(entry, folder, progress=progress)
    for raw, source in downloads:
        check_original(entry, source, file_digest(raw), root)  # refused before any unpickling
        with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
            try:
                repo = convert_checkpoint(raw, entry, Path(tmp) / "repo")
            except (OriginalReleaseError, ValueError) as error:  # not a checkpoint of this entry: the next source
                downloads.reject(source, error)
                continue
            weights_sha256 = file_digest(repo / "model.safetensors")
            if entry.weights.sha256 and source.kind.startswith("README") and weights_sha256 != entry.weights.sha256:
                raise IntegrityError(
                    source.key,
                    entry.weights.sha256,
                    weights_sha256,
                    hint="The original file converts to other weights than the published ones: it changed.",
                )
            final = folder / weights_sha256
            if final.exists():
                shutil.rmtree(final)
            os.replace(repo, final)
        record = {
            "source": source.key,
            "weights": f"{weights_sha256}/model.safetensors",
            "weights_sha256": weights_sha256,
        }
        atomic_write_text(folder / "record.json", json.dumps(record, indent=2))
        return OriginalFile(final / "model.safetensors", weights_sha256, source.key)
    raise downloads.error(
        f"{entry.name}: the Hub repo {entry.repo_id_in(settings.namespace())} does not exist and "
        "the original release could not be fetched either"
    )


def forget_original(name: str, root: Path | None = None) -> list[str]:
    """Drop what trust-on-first-use remembered for ``name`` (and its cached conversion); returns the keys.

    All or nothing: the conversion is first moved aside (refused at once when the cache cannot be changed), then
    the record is rewritten (on failure the conversion is put back), then the moved folder is deleted.

    Raises:
        CacheError: the cache cannot be changed (read-only, a file where a folder belongs); nothing was changed.
    """
    known = known_originals(root)
    dropped = [key for key in known if key.split(" ", 1)[0] == name]
    folder = entry_folder(name, root)
    aside = folder.with_name(f".forgotten-{name}-{os.getpid()}")
    with local_cache(root, f"forget the original release of {name}"):
        if folder.exists():
            os.rename(folder, aside)
        try:
            if dropped:
                write_known_originals({key: value for key, value in known.items() if key not in dropped}, root)
        except BaseException:
            if aside.exists():
                os.rename(aside, folder)
            raise
    shutil.rmtree(aside, ignore_errors=True)  # nothing refers to it any more
    return dropped
