"""huggingface_hub's exceptions (and the transport's) raised as the zoo's, one class per remedy: what went wrong,
where, and what to do, for downloads (``hub_errors``) and for API calls (``api_errors``)."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors

from .errors import (
    CacheError,
    DklZooError,
    DownloadError,
    EntryNotFoundError,
    HubAccessError,
    InvalidArgumentError,
    OfflineError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

__all__ = ["Target", "hub_errors", "api_errors", "is_local_error", "cache_fix", "transport_errors", "endpoint_of"]


def endpoint_of(endpoint: str | None) -> str:
    """The Hub address a call goes to: ``endpoint``, else huggingface_hub's (``HF_ENDPOINT``)."""
    return (endpoint or hf_constants.ENDPOINT).rstrip("/")


def cache_fix(from_argument: bool) -> str:
    """What to do about a cache that cannot be written, said for what chose it (an argument, or HF_HUB_CACHE)."""
    return (
        "Pass cache_dir= a writable folder."
        if from_argument
        else "Point HF_HUB_CACHE (or HF_HOME) at a writable folder, or pass cache_dir=."
    )


_LOCAL_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
}


def is_local_error(error: BaseException) -> bool:
    """A file-system problem on this machine (permissions, read-only, full, a file where a folder belongs), not
    something the server did."""
    return (
        isinstance(error, OSError)
        and not isinstance(error, (ConnectionError, TimeoutError))
        and error.errno in _LOCAL_ERRNOS
    )


@contextlib.contextmanager
def api_errors(what: str, repo_id: str, endpoint: str | None = None) -> Iterator[None]:
    """huggingface_hub's errors of an API call (creating a repo, a commit, an upload) raised as the zoo's."""
    from huggingface_hub.errors import HFValidationError

    where = endpoint_of(endpoint)
    try:
        yield
    except DklZooError:
        raise
    except HFValidationError as error:
        raise InvalidArgumentError(
            f"{what}: {repo_id!r} is not a valid Hub repo id ({str(error).splitlines()[0]}); "
            "use namespace/name with letters, digits, '-', '_' and '.'"
        ) from None
    except hf_errors.HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        fix = (
            "Check your token (HF_TOKEN, `hf auth login`) and that you may write to this repo."
            if status in (401, 403)
            else "The Hub failed; try again later (nothing was lost: run it again)."
        )
        raise HubAccessError(
            f"{what}: the Hub at {where} answered HTTP {status if status is not None else '?'} for {repo_id}. {fix}",
            status,
        ) from None
    except transport_errors() as error:
        raise OfflineError(
            f"{what}: the Hub at {where} could not be reached ({type(error).__name__}); check your "
            "connection or HF_ENDPOINT"
        ) from None


class Target(NamedTuple):
    """What was asked of the Hub, for the messages: who asked (an entry's name), which file where, and the cache
    it goes into (and whether an argument chose it, or the environment)."""

    label: str
    repo_id: str
    revision: str
    filename: str
    cache: Path | None = None
    cache_from_argument: bool = False


@contextlib.contextmanager
def hub_errors(target: Target, where: str, local_only: bool) -> Iterator[None]:
    """Raise huggingface_hub's exceptions (and transport errors) as the zoo's, one class per remedy."""
    try:
        yield
    except DklZooError:
        raise  # already ours (a download deadline is a TimeoutError: not to be taken for "unreachable")
    except (hf_errors.HfHubHTTPError, hf_errors.LocalEntryNotFoundError, *transport_errors(), OSError) as error:
        raise _zoo_error(error, target, where, local_only) from None


def _zoo_error(error: BaseException, target: Target, where: str, local_only: bool) -> DklZooError:
    """The zoo's exception for one of huggingface_hub's (the order matters: subclasses first)."""
    label, repo_id, rev, filename, cache, from_argument = target
    weights = f"{repo_id}@{rev}/{filename}"
    if is_local_error(error):  # before the transport check: the disk, not the server
        reason = getattr(error, "strerror", None) or str(error)
        return CacheError(
            f"{label}: the weights {weights} cannot be stored in the cache {cache or 'folder'} "
            f"({reason}{': ' + str(error.filename) if getattr(error, 'filename', None) else ''}). "
            f"Nothing is wrong with the server. {cache_fix(from_argument)}"
        )
    if isinstance(error, hf_errors.RevisionNotFoundError):
        return RevisionNotFoundError(
            f"Revision {rev!r} not found",
            repo_id,
            where,
            "Check the revision (a branch, tag or full commit sha), or leave it out to use the pinned one.",
        )
    if isinstance(error, hf_errors.RepositoryNotFoundError) and not isinstance(error, hf_errors.GatedRepoError):
        return RepositoryNotFoundError(
            "Repository not found",
            repo_id,
            where,
            f"The repo may not be published yet, be private (a token: HF_TOKEN), or {where} is not the Hub you "
            "meant (HF_ENDPOINT); dkl_zoo.load falls back to the original release when it can.",
        )
    if isinstance(error, hf_errors.LocalEntryNotFoundError):
        return OfflineError(_offline_message(label, weights, where, error, local_only))
    if isinstance(error, hf_errors.EntryNotFoundError):
        return EntryNotFoundError(
            f"File {filename!r} not found at revision {rev!r}",
            repo_id,
            where,
            "The repo exists but has no weights at this revision; publish them (dkl-zoo publish) or pick "
            "another revision.",
        )
    if isinstance(error, hf_errors.HfHubHTTPError):  # 401/403 (token, gated repo), 5xx (the server)
        status = error.response.status_code if error.response is not None else None
        fix = (
            "Check your token (HF_TOKEN, `hf auth login`) and that you may read this repo."
            if status in (401, 403)
            else "The Hub failed; try again later, or point HF_ENDPOINT at a mirror."
        )
        return HubAccessError(
            f"{label}: weights {weights} are not in the local cache and the Hub at {where} "
            f"answered HTTP {status if status is not None else '?'}. {fix}",
            status,
        )
    if isinstance(error, transport_errors()):
        return OfflineError(
            f"{label}: weights {weights} are not in the local cache and the Hub at {where} could not be "
            f"reached ({type(error).__name__}). Check your connection or HF_ENDPOINT, or pre-fetch the weights "
            "on a machine that is online (`dkl-zoo download NAME`)."
        )
    # huggingface_hub's "Consistency check failed": the body was not the announced file (a proxy's or
    # captive portal's HTML page, a truncated answer). Its temporary file is already gone.
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return DownloadError(
        f"{label}: {where} did not send the file {weights} ({first}). Nothing was kept; "
        "try again, or check HF_ENDPOINT / your proxy (an HTML page instead of the file?)."
    )


def transport_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of a server that cannot be reached: the built-ins, and httpx's (or httpx2's) when installed."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name in ("httpx2", "httpx"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)


def _offline_message(label: str, weights: str, where: str, error: Exception, local_only: bool) -> str:
    """Offline mode, or (rarely: the Hub failed between our HEAD and huggingface_hub's) the Hub failing."""
    cause = error.__cause__
    if local_only or hf_constants.HF_HUB_OFFLINE or isinstance(cause, hf_errors.OfflineModeIsEnabled):
        why = "offline mode is on (local_files_only=True or HF_HUB_OFFLINE=1)"
        fix = (
            "Load it once while online (`dkl-zoo download NAME` on a machine that is online, then copy its "
            "HF_HUB_CACHE here), or unset HF_HUB_OFFLINE."
        )
    else:
        why = f"the Hub at {where} could not be asked ({type(cause).__name__ if cause else 'no answer'})"
        fix = "Try again later, or point HF_ENDPOINT at a working mirror."
    return f"{label}: weights {weights} are not in the local cache and {why}. {fix}"
