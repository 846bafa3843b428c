"""Registry entry → verified local weights file, through huggingface_hub (its cache, mirrors, offline mode).

huggingface_hub checks only sizes; the content check is ours and runs on every load: the file's sha256 must
equal the registry pin, or, for an unpinned revision, the hash the Hub reported for it (its ETag, which
also names the cached blob: the sha256 for LFS files, the git blob sha1 for small ones).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import HfFileMetadata, get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors

from . import settings
from ._atomic import atomic_write_text
from ._deadline import deadline, download_timeout, install_hub_hook
from ._hub_errors import Target, cache_fix, endpoint_of, hub_errors, is_local_error, transport_errors
from ._integrity import SHA1_HEX, SHA256_HEX, LocatedFile, VerifiedFile, verify_or_discard
from .errors import (
    CacheError,
    InvalidArgumentError,
)
from .registry import ModelEntry

__all__ = [
    "locate",
    "resolve",
    "repo_id_of",
    "checked_repo_id",
    "hash_record_path",
    "record_hash",
    "recorded_hash",
    "fetch_file",
]


def resolve(entry: ModelEntry, **kwargs: object) -> VerifiedFile:
    """Download (or find in the cache) ``entry``'s weights and verify them; see ``locate`` for arguments.

    A file that fails verification is removed from the cache before ``IntegrityError`` is raised.
    """
    return verify_or_discard(locate(entry, **kwargs))  # type: ignore[arg-type]


def repo_id_of(entry: ModelEntry) -> str:
    """The repo the Hub is asked for: ``entry.weights.repo``, else ``<namespace>/<name>`` with the namespace of
    ``DKL_ZOO_NAMESPACE`` (a mirror, a fork; default ``dkl-zoo``)."""
    return entry.repo_id_in(settings.namespace())


def checked_repo_id(entry: ModelEntry) -> str:
    """``repo_id_of(entry)``, refused with a clear error when it is not a valid Hub repo id."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo_id = repo_id_of(entry)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        source = settings.namespace_source() if entry.weights.repo is None else "the entry's repo"
        raise InvalidArgumentError(
            f"{repo_id!r} is not a valid Hub repo id (from {source}): {str(error).splitlines()[0]} Use a Hub user "
            "or organisation name (letters, digits, '-', '_', '.'), or unset the variable."
        ) from None
    return repo_id


def locate(
    entry: ModelEntry,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    endpoint: str | None = None,
    token: str | bool | None = None,
    progress: bool = True,
) -> LocatedFile:
    """Download ``entry``'s weights, or find them in the cache; say what their content must hash to.

    ``revision=None`` means the registry's pinned revision, else ``main``. The registry's sha256 pin applies
    only to the pinned revision; any other revision is checked against the hash the Hub reported for the
    file at that commit, which is remembered beside the cache (``hash_record_path``) so offline loads
    compare against what the Hub said, never against a file name on disk.

    Raises:
        RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError: the repo, revision or file does
            not exist at ``endpoint`` (all three are ``RemoteNotFoundError``).
        OfflineError: not cached, and the Hub cannot be asked (offline mode, unreachable).
        HubAccessError: not cached, and the Hub refused (HTTP 401/403) or failed (5xx); ``status`` says which.
        DownloadError: the server answered with something that is not the file (wrong size, an HTML page).
        DownloadTimeoutError: the download took longer than ``DKL_ZOO_DOWNLOAD_TIMEOUT``.
        InvalidArgumentError: the repo id (``DKL_ZOO_NAMESPACE``) or the download timeout is not valid.
    """
    pinned = revision is None or (entry.weights.revision is not None and revision == entry.weights.revision)
    rev = revision or entry.weights.revision or "main"
    repo_id = checked_repo_id(entry)
    download_timeout()  # a bad DKL_ZOO_DOWNLOAD_TIMEOUT is refused before any request
    # Always name the endpoint explicitly: some huggingface_hub URL templates are fixed at import time,
    # and our messages must name the server that was actually asked.
    endpoint = endpoint_of(endpoint)
    cache = Path(cache_dir) if cache_dir is not None else Path(hf_constants.HF_HUB_CACHE)
    offline = local_files_only or hf_constants.HF_HUB_OFFLINE
    if force_download and offline:
        raise InvalidArgumentError(
            "force_download=True needs the Hub: it cannot be combined with offline mode "
            "(local_files_only=True or HF_HUB_OFFLINE=1)"
        )
    _check_cache_folder(cache, entry.name, cache_dir is not None)
    with hub_errors(
        Target(entry.name, repo_id, rev, entry.weights.filename, cache, cache_dir is not None),
        endpoint,
        local_files_only,
    ):
        cached = try_to_load_from_cache(repo_id, entry.weights.filename, cache_dir=cache, revision=rev)
        cached = cached if isinstance(cached, str) else None
        metadata = (
            None
            if offline
            else _head(
                repo_id,
                entry.weights.filename,
                rev,
                endpoint,
                token,
                fall_back_to_cache=cached is not None and not force_download,
            )
        )
        if metadata is not None and metadata.commit_hash and metadata.etag:
            _record_if_possible(cache, repo_id, metadata, entry.weights.filename)
        if (
            (metadata is None or not force_download)
            and cached is not None
            and (metadata is None or _commit_of(cached) == metadata.commit_hash)
        ):
            local = cached  # current (or the Hub cannot be asked): no second request
        else:
            with deadline(f"{repo_id}@{rev}/{entry.weights.filename}"):
                install_hub_hook()
                local = hf_hub_download(
                    repo_id,
                    entry.weights.filename,
                    revision=rev,
                    cache_dir=str(cache),
                    local_files_only=offline,
                    force_download=force_download,
                    endpoint=endpoint,
                    token=token,
                    tqdm_class=None if progress else _SilentBar,
                )
    commit = _commit_of(local)
    said_now = (
        metadata.etag.strip('"').lower()
        if metadata is not None and metadata.etag and metadata.commit_hash == commit
        else None
    )  # what the Hub said a moment ago, for this commit
    return LocatedFile(
        path=Path(local),
        revision=rev,
        expected_sha256=entry.weights.sha256 if pinned else None,
        hub_etag=said_now or (recorded_hash(cache, repo_id, commit, entry.weights.filename) if commit else None),
        cache_files=_cache_files(local),
    )


def _silent_bar_class() -> type:
    from tqdm.auto import tqdm

    class SilentBar(tqdm):  # type: ignore[misc, valid-type]
        """huggingface_hub's download bar, switched off (``load(progress=False)``)."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return SilentBar


_SilentBar = _silent_bar_class()


def _check_cache_folder(cache: Path, label: str, from_argument: bool) -> None:
    """A cache path that is a file can never work: said at once, naming the setting that chose it."""
    for folder in (cache, *cache.parents):
        if folder.exists():
            if not folder.is_dir():
                raise CacheError(
                    f"{label}: the Hugging Face cache {cache} cannot be used: {folder} is a file, not a "
                    f"folder. {cache_fix(from_argument)}"
                )
            return


def _record_if_possible(cache: Path, repo_id: str, metadata: HfFileMetadata, filename: str) -> None:
    """Remember the Hub's hash beside the cache; a read-only cache is not an error for this load (the hash just
    reported is used), but offline loads of the file then have nothing to check it against: said once."""
    import warnings

    try:
        record_hash(cache, repo_id, str(metadata.commit_hash), filename, str(metadata.etag), metadata.size)
    except OSError as error:
        if not is_local_error(error):
            raise
        warnings.warn(
            f"the Hub's hash of {repo_id}/{filename} could not be recorded in the cache {cache} "
            f"({error.strerror or error}): this load is checked against the hash the Hub just reported, "
            "but offline loads of this file will be refused until it can be recorded",
            UserWarning,
            stacklevel=4,
        )


def fetch_file(repo_id: str, filename: str, *, revision: str | None = None, endpoint: str | None = None) -> str:
    """A small file of any Hub repo (a ``config.json``), from the cache when it is there, and failing at once
    with ``OfflineError`` / ``RemoteNotFoundError`` when the Hub cannot give it (no 25 s of retries)."""
    rev = revision or "main"
    endpoint = endpoint_of(endpoint)
    offline = bool(hf_constants.HF_HUB_OFFLINE)
    with hub_errors(Target(repo_id, repo_id, rev, filename), endpoint, False):
        cached = try_to_load_from_cache(repo_id, filename, revision=rev)
        if isinstance(cached, str):
            return cached
        if not offline:
            _head(repo_id, filename, rev, endpoint, None, fall_back_to_cache=False)
        return hf_hub_download(repo_id, filename, revision=rev, endpoint=endpoint, local_files_only=offline)


# ---- the Hub's hashes, remembered beside the cache -------------------------------------------------------

_RECORDS = "dkl_zoo-hashes"


def hash_record_path(cache: Path, repo_id: str, commit: str, filename: str) -> Path:
    """Where the hash the Hub reported for ``filename`` at ``commit`` is kept: inside the repo's cache folder
    (huggingface_hub's cache tools ignore it; deleting the repo from the cache deletes it too)."""
    from huggingface_hub.file_download import repo_folder_name

    return cache / repo_folder_name(repo_id=repo_id, repo_type="model") / _RECORDS / commit / f"{filename}.json"


def record_hash(cache: Path, repo_id: str, commit: str, filename: str, etag: str, size: int | None) -> None:
    """Remember what the Hub said the file at ``commit`` hashes to (atomic; a commit's files never change)."""
    etag = etag.strip('"').lower()
    path = hash_record_path(cache, repo_id, commit, filename)
    record = {"etag": etag, "size": size}
    try:
        if path.exists() and json.loads(path.read_text()) == record:
            return
    except (OSError, ValueError):
        pass
    atomic_write_text(path, json.dumps(record) + "\n")


def recorded_hash(cache: Path, repo_id: str, commit: str, filename: str) -> str | None:
    """The remembered Hub hash of ``filename`` at ``commit``; None when absent or unreadable."""
    try:
        record = json.loads(hash_record_path(cache, repo_id, commit, filename).read_text())
        etag = record["etag"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return etag if isinstance(etag, str) and (SHA256_HEX.match(etag) or SHA1_HEX.match(etag)) else None


def _commit_of(snapshot_path: str) -> str | None:
    """The commit of a ``.../snapshots/<commit>/<file>`` path of huggingface_hub's cache."""
    parts = Path(snapshot_path).parts
    if "snapshots" in parts[:-1]:
        commit = parts[len(parts) - 1 - parts[::-1].index("snapshots") + 1]
        return commit if SHA1_HEX.match(commit) else None
    return None


def _cache_files(snapshot_path: str) -> tuple[Path, ...]:
    """The snapshot entry and the blob it points to: what to delete when the content fails its check."""
    pointer = Path(snapshot_path)
    blob = Path(os.path.realpath(pointer))
    return (pointer, blob) if blob != pointer else (pointer,)


def _head(
    repo_id: str, filename: str, rev: str, endpoint: str, token: str | bool | None, *, fall_back_to_cache: bool
) -> HfFileMetadata | None:
    """One HEAD without retries: the file's commit and hash, or None to use the cache when the Hub fails.

    huggingface_hub retries for ~25 s when nothing is cached; a zoo user whose Hub is down should hear so
    at once. Not-found answers raise huggingface_hub's errors, which ``hub_errors`` maps to ours.
    """
    url = hf_hub_url(repo_id, filename, revision=rev, endpoint=endpoint)
    try:
        return get_hf_file_metadata(url, token=token, endpoint=endpoint, retry_on_errors=False)
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.EntryNotFoundError):
        raise  # includes GatedRepoError
    except (hf_errors.HfHubHTTPError, *transport_errors()):
        if fall_back_to_cache:
            return None
        raise
