"""Trust on first use of original files that no pin covers (like SSH's ``known_hosts``).

A pinned original (its sha256 in the pins file) must equal its pin. An unpinned one is trusted the first time,
said out loud with its sha256, and remembered in ``<cache>/known_originals.json``; a later, different file
from the same source is refused until it is forgotten (``dkl_zoo.original.forget_original``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from .._atomic import atomic_write_text
from ..errors import IntegrityError, OriginalReleaseError, Remedy
from ..registry import ModelEntry, OriginalSource
from .cache import cache_root, local_cache
from .drive import source_url

__all__ = ["known_originals_path", "known_originals", "write_known_originals", "check_original"]


def known_originals_path(root: Path | None = None) -> Path:
    """Trust-on-first-use record of original files (like SSH's known_hosts): ``<cache>/known_originals.json``."""
    return cache_root(root) / "known_originals.json"


def known_originals(root: Path | None = None) -> dict[str, str]:
    """The store: "<entry> <source>" → the sha256 first seen; empty when there is none yet."""
    path = known_originals_path(root)
    try:
        with local_cache(root, "read the known originals"):
            text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise OriginalReleaseError(
            f"{path} is not a known-originals file ({error}); delete it to start trusting anew"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise OriginalReleaseError(f"{path} is not a known-originals file; delete it to start trusting anew")
    return data


def check_original(entry: ModelEntry, source: OriginalSource, sha256: str, root: Path | None = None) -> None:
    """Is this downloaded original file the one expected? Pinned: it must equal the pin. Unpinned: trust on
    first use, said out loud with its sha256; a later, different file is refused until the user forgets it.

    Raises:
        IntegrityError: the file differs from the pin, or from the file first seen for this source.
    """
    key = f"{entry.name} {source.key}"
    first = entry.weights.original_sources[0].key if entry.weights.original_sources else None
    pinned_here = entry.weights.original_sha256 and (entry.weights.original_source or first) == source.key
    if pinned_here:
        if sha256 != entry.weights.original_sha256:
            raise IntegrityError(
                source_url(source),
                str(entry.weights.original_sha256),
                sha256,
                hint="The original file is not the one the maintainers released from (its pin in "
                "dkl_zoo/pins.json); it was not used. The Drive file changed, or the download was tampered "
                "with.",
            )
        return
    known = known_originals(root)
    if key not in known:
        warnings.warn(
            f"{entry.name}: the original file from {source.kind} ({source.google_drive_id}) is not pinned, so it "
            f"cannot be verified: trusting it on first use. Its sha256 is {sha256}; compare it with a trusted "
            "copy. A different file from this source will be refused from now on.",
            UserWarning,
            stacklevel=4,
        )
        known[key] = sha256
        with local_cache(root, "remember the original file"):
            write_known_originals(known, root)
        return
    if known[key] != sha256:
        forget = Remedy(
            f"dkl_zoo.original.forget_original({entry.name!r}" + (f", {str(root)!r}" if root is not None else "") + ")",
            f"dkl-zoo forget-original {entry.name}" + (f" --cache-dir {root.parent}" if root is not None else ""),
        )
        raise IntegrityError(
            source_url(source),
            known[key],
            sha256,
            hint=f"The original file differs from the one first downloaded on this machine; it was not used. If "
            f"you trust the new file, forget the old one ({forget.python}) and load again.",
        ).with_remedy(forget)


def write_known_originals(known: dict[str, str], root: Path | None = None) -> None:
    """Replace the store's content, whole or not at all."""
    atomic_write_text(known_originals_path(root), json.dumps(known, indent=2, sort_keys=True) + "\n")
