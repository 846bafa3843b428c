"""A total deadline for one file download, on top of the clients' per-read timeouts.

huggingface_hub's read timeout (``HF_HUB_DOWNLOAD_TIMEOUT``, 10 s) restarts with every byte, so a server
that trickles one byte every few seconds keeps a download busy forever. ``DKL_ZOO_DOWNLOAD_TIMEOUT``
(seconds, default 1800) bounds the whole transfer of one file: past it the download is abandoned with a
``DownloadTimeoutError`` and the partial file is dropped (huggingface_hub deletes its temporary file).

For huggingface_hub the deadline is enforced by a response hook on its shared HTTP client (the public
``get_session().event_hooks``) that wraps the body stream of responses received while ``deadline(...)`` is
active in the current context; other uses of the client in the process are not affected.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

from . import settings
from .errors import DownloadTimeoutError

__all__ = ["download_timeout", "deadline", "check", "install_hub_hook"]

_ACTIVE: contextvars.ContextVar[tuple[float, float, str] | None] = contextvars.ContextVar(
    "dkl_zoo_download_deadline", default=None
)


def download_timeout() -> float:
    """Seconds allowed for one file (``dkl_zoo.settings.download_timeout``); a bad value is refused at once."""
    return settings.download_timeout()


@contextlib.contextmanager
def deadline(what: str, seconds: float | None = None) -> Iterator[None]:
    """Downloads started inside this block must finish within ``seconds`` (default: the environment's)."""
    limit = download_timeout() if seconds is None else seconds
    token = _ACTIVE.set((time.monotonic() + limit, limit, what))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def check() -> None:
    """Raise ``DownloadTimeoutError`` when the active deadline has passed (no-op outside ``deadline``)."""
    active = _ACTIVE.get()
    if active is not None and time.monotonic() > active[0]:
        _, limit, what = active
        raise DownloadTimeoutError(
            f"downloading {what} took longer than {limit:g} s and was abandoned (the server is too slow or "
            f"stalled); try again later, use a mirror (HF_ENDPOINT), or raise {settings.TIMEOUT_ENV}"
        )


def _wrap_stream(response: Any) -> None:
    """Response hook: while a deadline is active, check it before every piece of the body is handed on."""
    if _ACTIVE.get() is None:
        return
    check()
    base = _sync_stream_base(response)
    inner = response.stream

    class _DeadlineStream(base):  # type: ignore[misc, valid-type]
        def __iter__(self) -> Iterator[bytes]:
            for piece in inner:
                check()
                yield piece

        def close(self) -> None:
            inner.close()

    response.stream = _DeadlineStream()


def _sync_stream_base(response: Any) -> type:
    import importlib

    package = importlib.import_module(type(response).__module__.split(".")[0])
    return package.SyncByteStream


def install_hub_hook() -> None:
    """Put the deadline hook on huggingface_hub's current shared client (idempotent)."""
    from ._compat import add_hub_response_hook

    add_hub_response_hook(_wrap_stream)
