"""Google Drive, where the authors' original checkpoints live: addresses, the download (through Drive's
"can't scan for viruses" confirmation page for large files), and trying each source of an entry in turn.

This package's own client (about 60 lines) rather than gdown's: gdown applies its confirmation-page handling
only to URLs on drive.google.com, so it cannot serve mirrors (``DKL_ZOO_ORIGINAL_URL``) or the tests' local
stand-in, and it has no total deadline.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

from .. import settings
from .._deadline import check as check_deadline
from .._deadline import deadline
from ..errors import InvalidArgumentError, OriginalReleaseError
from ..registry import ModelEntry, OriginalSource

__all__ = ["source_url", "check_url_template", "download_drive", "SourceDownloads"]

_CHUNK = 1 << 20


def source_url(source: OriginalSource) -> str:
    """The address of one original file: ``DKL_ZOO_ORIGINAL_URL`` (a template with ``{id}``), else Drive's."""
    template, _ = settings.original_url_template()
    check_url_template(template)
    return template.format(id=urllib.parse.quote(source.google_drive_id))


def check_url_template(template: str) -> None:
    """A template must hold exactly one ``{id}`` and no other field: without it every entry would fetch the same
    URL (and load the same weights); any other field cannot be filled.

    Raises:
        InvalidArgumentError: naming the problem and the variable.
    """
    import string

    where = f"{settings.ORIGINAL_URL_ENV}={template!r}"
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as error:  # a lone brace
        raise InvalidArgumentError(
            f"{where} is not a URL template ({error}); write it like "
            "https://mirror.example/files/{id} (double a literal brace: {{ }})"
        ) from None
    names = [name for name, _, _ in fields]
    other = [f"{{{name}}}" for name in names if name != "id"]
    if other:
        raise InvalidArgumentError(
            f"{where} has the field(s) {', '.join(other)}; only {{id}} (the Google Drive file id) can be filled in"
        )
    if names.count("id") != 1 or any(spec or conversion for _, spec, conversion in fields):
        raise InvalidArgumentError(
            f"{where} must contain {{id}} exactly once, as it is (the Google Drive file id): "
            "without it every entry would fetch the same file"
        )


class SourceDownloads:
    """Each original source of an entry, downloaded in turn into ``folder``: iterate to get (file, source) pairs,
    ``reject(source, reason)`` one the caller cannot use, and ``error()`` says why none worked. A file the caller
    did not move away is deleted before the next source is tried."""

    def __init__(self, entry: ModelEntry, folder: Path, *, progress: bool) -> None:
        self.entry, self.folder, self.progress = entry, folder, progress
        self.failures: list[str] = []

    def __iter__(self) -> Iterator[tuple[Path, OriginalSource]]:
        self.folder.mkdir(parents=True, exist_ok=True)
        for source in self.entry.weights.original_sources:
            url = source_url(source)
            partial = self.folder / f".{source.google_drive_id}.part"
            try:
                with deadline(f"the original release of {self.entry.name} ({source.kind})"):
                    download_drive(
                        url, partial, progress=self.progress, description=f"{self.entry.name} ({source.kind})"
                    )
            except (OriginalReleaseError, ConnectionError, TimeoutError, ValueError) as error:
                partial.unlink(missing_ok=True)
                self.reject(source, error)
                continue
            try:
                yield partial, source
            finally:
                partial.unlink(missing_ok=True)

    def reject(self, source: OriginalSource, reason: object) -> None:
        """Note why ``source`` gave nothing usable (the next one is tried)."""
        self.failures.append(f"{source.kind} <{source_url(source)}>: {reason}")

    def error(self, what: str) -> OriginalReleaseError:
        """The error to raise when no source gave a usable file: ``what`` failed, and each source's reason."""
        return OriginalReleaseError(f"{what}:\n  " + "\n  ".join(self.failures or ["the entry has no original source"]))


class _FormParser:
    """Finds Drive's confirmation link: a form (new Drive) or a confirm= link (old Drive)."""

    @staticmethod
    def next_url(page: str, base: str) -> str | None:
        form = re.search(r'<form[^>]*id="download-form"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
        if form:
            fields = re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(2))
            action = urllib.parse.urljoin(base, html.unescape(form.group(1)))
            return action + "?" + urllib.parse.urlencode([(k, html.unescape(v)) for k, v in fields])
        link = re.search(r'href="([^"]*confirm=[^"]+)"', page)
        if link:
            return urllib.parse.urljoin(base, html.unescape(link.group(1)))
        return None


def download_drive(
    url: str, dest: Path, *, progress: bool = True, description: str = "download", timeout: float = 60.0
) -> Path:
    """Stream a (Google Drive) file to ``dest``, passing the confirmation page of large files.

    An HTML answer that is not a confirmation page (quota exceeded, removed, private) is an
    ``OriginalReleaseError`` naming the cause, never a file handed on to unpickling.
    """
    from tqdm.auto import tqdm

    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        response = opener.open(url, timeout=timeout)
        if "text/html" in response.headers.get("Content-Type", ""):
            page = response.read(2_000_000).decode("utf-8", "replace")
            next_url = _FormParser.next_url(page, response.geturl())
            if next_url is None:
                token = next((c.value for c in jar if c.name.startswith("download_warning")), None)
                next_url = f"{url}&confirm={token}" if token else None
            if next_url is None:
                title = re.search(r"<title>(.*?)</title>", page, re.S)
                raise OriginalReleaseError(
                    f"Google Drive answered with an HTML page ({title.group(1).strip() if title else 'no title'}) "
                    "instead of the file: its download quota may be exceeded, or the file removed or private. "
                    "Try again later."
                )
            response = opener.open(next_url, timeout=timeout)
            if "text/html" in response.headers.get("Content-Type", ""):
                raise OriginalReleaseError(
                    "Google Drive answered the confirmation with another HTML page instead of the file (quota "
                    "exceeded or access denied). Try again later."
                )
        total = int(response.headers.get("Content-Length") or 0) or None
        dest.parent.mkdir(parents=True, exist_ok=True)
        with (
            open(dest, "wb") as out,
            tqdm(total=total, unit="B", unit_scale=True, desc=description, disable=not progress, leave=False) as bar,
        ):
            # read1: whatever has arrived, so the deadline is checked even when a server trickles bytes
            while chunk := response.read1(_CHUNK):
                check_deadline()
                out.write(chunk)
                bar.update(len(chunk))
    except urllib.error.URLError as error:
        raise OriginalReleaseError(f"could not download {url}: {error.reason}") from None
    return dest
