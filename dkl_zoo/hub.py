"""Registry entry → verified local weights file, through huggingface_hub (its cache, mirrors, offline mode).

huggingface_hub checks only sizes; the content check is ours and runs on every load: the file's sha256 must
equal the registry pin, or, for an unpinned revision, the hash the Hub reported for it (its ETag, which
also names the cached blob: the sha256 for LFS files, the git blob sha1 for small ones).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from huggingface_hub import constants as hf_constants
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import OfflineError, RemoteNotFoundError
from .integrity import LocatedFile, VerifiedFile, file_digest, git_blob_sha1, verify, verify_file  # noqa: F401
from .registry import ModelEntry

__all__ = ["LocatedFile", "VerifiedFile", "locate", "verify", "resolve", "file_digest", "git_blob_sha1",
           "verify_file"]  # the integrity helpers are re-exported from dkl_zoo.integrity

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def _etag_of_cached(path: str) -> str | None:
    """The Hub's ETag of a cached file: the name of the blob its snapshot entry points to."""
    blob = os.path.basename(os.path.realpath(path))
    return blob if (_SHA256.match(blob) or _SHA1.match(blob)) else None


def _endpoint(endpoint: str | None) -> str:
    return (endpoint or hf_constants.ENDPOINT).rstrip("/")


def resolve(entry: ModelEntry, **kwargs: object) -> VerifiedFile:
    """Download (or find in the cache) ``entry``'s weights and verify them; see ``locate`` for arguments."""
    return verify(locate(entry, **kwargs))  # type: ignore[arg-type]


def locate(
    entry: ModelEntry,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> LocatedFile:
    """Download ``entry``'s weights, or find them in the cache; say what their content must hash to.

    ``revision=None`` means the registry's pinned revision, else ``main``. The registry's sha256 pin applies
    only to the pinned revision; any other revision is checked against the hash the Hub reported.
    """
    pinned = revision is None or (entry.revision is not None and revision == entry.revision)
    rev = revision or entry.revision or "main"
    repo_id = entry.repo_id
    # Always name the endpoint explicitly: some huggingface_hub URL templates are fixed at import time,
    # and our messages must name the server that was actually asked.
    endpoint = _endpoint(endpoint)
    where = endpoint
    try:
        if not local_files_only and not hf_constants.HF_HUB_OFFLINE:
            cached = try_to_load_from_cache(repo_id, entry.filename, cache_dir=cache_dir, revision=rev)
            if force_download or not isinstance(cached, str):
                _probe(repo_id, entry.filename, rev, endpoint, token)
        local = hf_hub_download(
            repo_id,
            entry.filename,
            revision=rev,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
            local_files_only=local_files_only,
            force_download=force_download,
            endpoint=endpoint,
            token=token,
        )
    except RevisionNotFoundError:
        raise RemoteNotFoundError(
            f"Revision {rev!r} not found", repo_id, where,
            "Check the revision (a branch, tag or full commit sha), or leave it out to use the pinned one.",
            kind="revision",
        ) from None
    except RepositoryNotFoundError:
        raise RemoteNotFoundError(
            "Repository not found", repo_id, where,
            f"The repo may not be published yet, or {where} is not the Hub you meant (HF_ENDPOINT); "
            "dkl_zoo.load falls back to the original release when it can.",
        ) from None
    except LocalEntryNotFoundError as error:
        raise OfflineError(_offline_message(entry, rev, where, error, local_files_only)) from None
    except EntryNotFoundError:
        raise RemoteNotFoundError(
            f"File {entry.filename!r} not found at revision {rev!r}", repo_id, where,
            "The repo exists but has no weights at this revision; publish them (dkl-zoo publish) or pick "
            "another revision.",
            kind="file",
        ) from None
    except HfHubHTTPError as error:  # 401/403/5xx
        status = error.response.status_code if error.response is not None else "?"
        raise OfflineError(
            f"{entry.name}: weights {repo_id}@{rev}/{entry.filename} are not in the local cache and the Hub at "
            f"{where} answered HTTP {status}. Check your token and HF_ENDPOINT, or try again later."
        ) from None
    except _transport_errors() as error:
        raise OfflineError(
            f"{entry.name}: weights {repo_id}@{rev}/{entry.filename} are not in the local cache and the Hub at "
            f"{where} could not be reached ({type(error).__name__}). Check your connection or HF_ENDPOINT, or "
            "pre-fetch the weights on a machine that is online (`dkl-zoo download NAME`)."
        ) from None
    return LocatedFile(
        path=Path(local),
        revision=rev,
        expected_sha256=entry.sha256 if pinned else None,
        hub_etag=_etag_of_cached(local),
    )


def _probe(repo_id: str, filename: str, rev: str, endpoint: str | None, token: str | bool | None) -> None:
    """One HEAD without retries before an uncached download.

    huggingface_hub retries for ~25 s when nothing is cached; a zoo user whose Hub is down should hear so
    at once. Not-found answers raise the same huggingface_hub errors as the download would.
    """
    url = hf_hub_url(repo_id, filename, revision=rev, endpoint=endpoint)
    get_hf_file_metadata(url, token=token, endpoint=endpoint, retry_on_errors=False)


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)


def _offline_message(entry: ModelEntry, rev: str, where: str, error: Exception, local_only: bool) -> str:
    cause = error.__cause__
    if local_only or hf_constants.HF_HUB_OFFLINE or isinstance(cause, OfflineModeIsEnabled):
        why = "offline mode is on (local_files_only=True or HF_HUB_OFFLINE=1)"
        fix = "Load once while online (or run `dkl-zoo download NAME`), or unset HF_HUB_OFFLINE."
    elif isinstance(cause, HfHubHTTPError) and cause.response is not None:
        why = f"the Hub at {where} answered HTTP {cause.response.status_code}"
        fix = "Try again later, or point HF_ENDPOINT at a working mirror."
    else:
        why = f"the Hub at {where} could not be reached ({type(cause).__name__ if cause else 'no answer'})"
        fix = "Check your connection or HF_ENDPOINT, or pre-fetch the weights on a machine that is online."
    return (
        f"{entry.name}: weights {entry.repo_id}@{rev}/{entry.filename} are not in the local cache and {why}. "
        f"{fix}"
    )
