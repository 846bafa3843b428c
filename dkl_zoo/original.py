"""Fallback to the authors' original release while a Hub repo does not exist yet.

The original files live on Google Drive (the README's link first, RobustBench's copy second). They are
downloaded (through Drive's "can't scan for viruses" confirmation page for large files), converted with
``dkl_zoo.convert`` in a temporary folder (no pickle code ever runs), verified, and moved into
``$DKL_ZOO_CACHE/original/<name>/`` (default ``~/.cache/dkl_zoo``), where later loads find them without
network. When the registry pins a sha256, a converted README file must match it (the conversion is
deterministic); a mismatch means the Drive file changed and is an ``IntegrityError``.
"""

from __future__ import annotations

import contextlib
import errno
import html
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Iterator, NamedTuple

from . import settings
from .atomic import atomic_write_text
from .deadline import check as check_deadline
from .deadline import deadline
from .errors import CacheError, IntegrityError, InvalidArgumentError, OriginalReleaseError
from .integrity import SHA256_HEX
from .registry import ModelEntry, OriginalSource

__all__ = ["OriginalFile", "cache_root", "check_url_template", "cached_original", "fetch_original", "download_drive",
           "check_original", "forget_original", "known_originals_path", "cache_files"]

_CHUNK = 1 << 20


def cache_root() -> Path:
    """Where original files and their conversions are kept: ``DKL_ZOO_CACHE``, else ``~/.cache/dkl_zoo``."""
    return settings.cache_root()[0]


@contextlib.contextmanager
def _local_cache(root: Path | None, what: str) -> Iterator[None]:
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
    return CacheError(f"cannot {what} in the dkl_zoo cache {where} ({error.strerror or error}{name}); point "
                      f"{setting} at a writable folder")


def _folder(entry: ModelEntry, root: Path | None) -> Path:
    return (root or cache_root()) / "original" / entry.name


def _url(source: OriginalSource) -> str:
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
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as error:  # a lone brace
        raise InvalidArgumentError(f"{where} is not a URL template ({error}); write it like "
                                   "https://mirror.example/files/{id} (double a literal brace: {{ }})") from None
    names = [name for name, _, _ in fields]
    other = [f"{{{name}}}" for name in names if name != "id"]
    if other:
        raise InvalidArgumentError(f"{where} has the field(s) {', '.join(other)}; only {{id}} (the Google Drive file "
                                   "id) can be filled in")
    if names.count("id") != 1 or any(spec or conversion for _, spec, conversion in fields):
        raise InvalidArgumentError(f"{where} must contain {{id}} exactly once, as it is (the Google Drive file id): "
                                   "without it every entry would fetch the same file")


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
    record_path = _folder(entry, root) / "record.json"
    if not record_path.exists():
        return None
    try:
        record = json.loads(record_path.read_text())
        source, recorded = str(record["source"]), record["weights_sha256"]
        problem = None if isinstance(recorded, str) and SHA256_HEX.match(recorded) else "weights_sha256 is not a sha256"
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = str(error)
    if problem is not None:
        warnings.warn(f"{entry.name}: ignoring the corrupt record {record_path} ({problem}); it was removed and the "
                      "original release is fetched again when online", UserWarning, stacklevel=3)
        with _local_cache(root, "remove a corrupt record"):
            record_path.unlink(missing_ok=True)
        return None
    expected = _expected_sha256(entry, source, recorded)
    path = record_path.parent / expected / "model.safetensors"
    if not path.exists():
        return None
    return OriginalFile(path, expected, source)


def cache_files(entry: ModelEntry, path: Path, root: Path | None = None) -> tuple[Path, ...]:
    """What to delete when a cached conversion fails its check: the file and the record pointing at it."""
    return (path, _folder(entry, root) / "record.json")


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
    with _local_cache(root, f"keep the original release of {entry.name}"):
        return _fetch_into_cache(entry, root, progress)


def _fetch_into_cache(entry: ModelEntry, root: Path | None, progress: bool) -> OriginalFile:
    from .convert import convert_checkpoint
    from .integrity import file_digest

    folder = _folder(entry, root)
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for source in entry.weights.original_sources:
        url = _url(source)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
            try:
                with deadline(f"the original release of {entry.name} ({source.kind})"):
                    raw = download_drive(url, Path(tmp) / "original.pt", progress=progress,
                                         description=f"{entry.name} ({source.kind})")
            except (OriginalReleaseError, ConnectionError, TimeoutError, ValueError) as error:
                failures.append(f"{source.kind} <{url}>: {error}")
                continue
            check_original(entry, source, file_digest(raw), root)  # refused before any unpickling
            try:
                repo = convert_checkpoint(raw, entry, Path(tmp) / "repo", quiet=True)
            except (OriginalReleaseError, ValueError) as error:  # not a checkpoint of this entry: the next source
                failures.append(f"{source.kind} <{url}>: {error}")
                continue
            weights_sha256 = file_digest(repo / "model.safetensors")
            if entry.weights.sha256 and source.kind.startswith("README") and weights_sha256 != entry.weights.sha256:
                raise IntegrityError(
                    str(url), entry.weights.sha256, weights_sha256,
                    hint="The original file converts to other weights than the published ones: it changed.",
                )
            final = folder / weights_sha256
            if final.exists():
                shutil.rmtree(final)
            os.replace(repo, final)
            record = {"source": f"{source.kind} {source.google_drive_id}", "url": url,
                      "weights": f"{weights_sha256}/model.safetensors", "weights_sha256": weights_sha256}
            atomic_write_text(folder / "record.json", json.dumps(record, indent=2))
            return OriginalFile(final / "model.safetensors", weights_sha256, record["source"])
    raise OriginalReleaseError(
        f"{entry.name}: the Hub repo {entry.repo_id_in(settings.namespace())} does not exist and the original release could not be "
        "fetched either:\n  " + "\n  ".join(failures)
    )


def known_originals_path(root: Path | None = None) -> Path:
    """Trust-on-first-use record of original files (like SSH's known_hosts): ``<cache>/known_originals.json``."""
    return (root or cache_root()) / "known_originals.json"


def _known(root: Path | None) -> dict[str, str]:
    path = known_originals_path(root)
    try:
        with _local_cache(root, "read the known originals"):
            text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise OriginalReleaseError(f"{path} is not a known-originals file ({error}); delete it to start trusting "
                                   "anew") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise OriginalReleaseError(f"{path} is not a known-originals file; delete it to start trusting anew")
    return data


def check_original(entry: ModelEntry, source: OriginalSource, sha256: str, root: Path | None = None) -> None:
    """Is this downloaded original file the one expected? Pinned: it must equal the pin. Unpinned: trust on
    first use, said out loud with its sha256; a later, different file is refused until the user forgets it.

    Raises:
        IntegrityError: the file differs from the pin, or from the file first seen for this source.
    """
    key = f"{entry.name} {source.kind} {source.google_drive_id}"
    pinned_source = entry.weights.original_source or (entry.weights.original_sources[0].kind + " " +
                                              entry.weights.original_sources[0].google_drive_id
                                              if entry.weights.original_sources else None)
    pinned_here = entry.weights.original_sha256 and pinned_source == f"{source.kind} {source.google_drive_id}"
    if pinned_here:
        if sha256 != entry.weights.original_sha256:
            raise IntegrityError(
                _url(source), str(entry.weights.original_sha256), sha256,
                hint="The original file is not the one the maintainers released from (its pin in "
                     "dkl_zoo/pins.json); it was not used. The Drive file changed, or the download was tampered "
                     "with.",
            )
        return
    known = _known(root)
    if key not in known:
        warnings.warn(
            f"{entry.name}: the original file from {source.kind} ({source.google_drive_id}) is not pinned, so it "
            f"cannot be verified: trusting it on first use. Its sha256 is {sha256}; compare it with a trusted "
            "copy. A different file from this source will be refused from now on.",
            UserWarning, stacklevel=4,
        )

        known[key] = sha256
        with _local_cache(root, "remember the original file"):
            atomic_write_text(known_originals_path(root), json.dumps(known, indent=2, sort_keys=True) + "\n")
        return
    if known[key] != sha256:
        raise IntegrityError(
            _url(source), known[key], sha256,
            hint=f"The original file differs from the one first downloaded on this machine; it was not used. If "
                 f"you trust the new file, forget the old one (dkl_zoo.original.forget_original({entry.name!r}"
                 + (f", {str(root)!r}" if root is not None else "") + ")) and load again.",
        )


def forget_original(name: str, root: Path | None = None) -> list[str]:
    """Drop what trust-on-first-use remembered for ``name`` (and its cached conversion); returns the keys.

    All or nothing: the conversion is first moved aside (refused at once when the cache cannot be changed), then
    the record is rewritten (on failure the conversion is put back), then the moved folder is deleted.

    Raises:
        CacheError: the cache cannot be changed (read-only, a file where a folder belongs); nothing was changed.
    """
    known = _known(root)
    dropped = [key for key in known if key.split(" ", 1)[0] == name]
    folder = (root or cache_root()) / "original" / name
    aside = folder.with_name(f".forgotten-{name}-{os.getpid()}")
    with _local_cache(root, f"forget the original release of {name}"):
        if folder.exists():
            os.rename(folder, aside)
        try:
            if dropped:
                remaining = {key: value for key, value in known.items() if key not in dropped}
                atomic_write_text(known_originals_path(root), json.dumps(remaining, indent=2, sort_keys=True) + "\n")
        except BaseException:
            if aside.exists():
                os.rename(aside, folder)
            raise
    shutil.rmtree(aside, ignore_errors=True)  # nothing refers to it any more
    return dropped


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


def download_drive(url: str, dest: Path, *, progress: bool = True, description: str = "download",
                   timeout: float = 60.0) -> Path:
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
        with open(dest, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=description,
                                          disable=not progress, leave=False) as bar:
            # read1: whatever has arrived, so the deadline is checked even when a server trickles bytes
            while chunk := response.read1(_CHUNK):
                check_deadline()
                out.write(chunk)
                bar.update(len(chunk))
    except urllib.error.URLError as error:
        raise OriginalReleaseError(f"could not download {url}: {error.reason}") from None
    return dest
