"""Pins as data: which Hub commit and which bytes each released entry must load.

The package ships ``dkl_zoo/pins.json``; ``dkl-zoo release`` writes it (or another file, ``--pins``), and
``DKL_ZOO_PINS=PATH`` makes ``load`` use another one (an organisation mirroring the zoo under its own
namespace keeps its own pins). A pinned entry loads exactly its pinned revision and refuses any other bytes.
With ``DKL_ZOO_NAMESPACE`` pointing at a mirror that the pins file does not describe, the revision pin
(a commit of another repository) is dropped but the content pin (sha256) still applies.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import settings
from ._integrity import SHA1_HEX, SHA256_HEX
from .errors import InvalidArgumentError

__all__ = ["DEFAULT_PINS", "Pin", "pins_path", "load_pins", "save_pins", "update_pins", "check_writable", "apply_pin"]

DEFAULT_PINS = Path(__file__).resolve().parent / "pins.json"
FORMAT = 1


@dataclass(frozen=True)
class Pin:
    """One released entry: its Hub repo, the full commit id, and the sha256 of the bytes it must have."""

    repo_id: str
    revision: str
    sha256: str
    original_sha256: str | None = None
    original_source: str | None = None
    reference_sha256: str | None = None
    """sha256 of the reference record published beside the weights (``dkl-zoo reference``), once there is one."""

    def problems(self) -> list[str]:
        """What is wrong with this pin (empty when it is well formed)."""
        found = []
        if not isinstance(self.repo_id, str) or self.repo_id.count("/") != 1:
            found.append("repo_id must look like namespace/name")
        if not isinstance(self.revision, str) or not SHA1_HEX.match(self.revision):
            found.append("revision must be a full 40-hex commit id")
        if not isinstance(self.sha256, str) or not SHA256_HEX.match(self.sha256):
            found.append("sha256 must be 64 lowercase hex digits")
        if self.original_sha256 is not None and not (
            isinstance(self.original_sha256, str) and SHA256_HEX.match(self.original_sha256)
        ):
            found.append("original_sha256 must be 64 lowercase hex digits or null")
        if self.reference_sha256 is not None and not (
            isinstance(self.reference_sha256, str) and SHA256_HEX.match(self.reference_sha256)
        ):
            found.append("reference_sha256 must be 64 lowercase hex digits or null")
        return found


def pins_path() -> Path:
    """``DKL_ZOO_PINS`` when set, else the pins file shipped in the package."""
    return settings.pins_path() or DEFAULT_PINS


def load_pins(path: str | os.PathLike[str] | None = None) -> dict[str, Pin]:
    """The pins of ``path`` (default ``pins_path()``), validated; a missing file means no pins.

    Raises:
        InvalidArgumentError: the file is not a pins file (names the file and, for ``DKL_ZOO_PINS``, the variable).
    """
    target = Path(path) if path is not None else pins_path()
    if not target.exists():
        if path is None and target != DEFAULT_PINS:
            raise InvalidArgumentError(
                f"{settings.PINS_ENV}={str(target)!r}: no such file; point it at a pins file "
                "written by dkl-zoo release, or unset it"
            )
        return {}
    return _parse(target)


def _parse(path: Path) -> dict[str, Pin]:
    where = f"{path}" + (f" (from {settings.PINS_ENV})" if settings.pins_path() is not None else "")
    try:
        data = json.loads(path.read_text())
        shaped = isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("pins"), dict)
        pins = {str(name): Pin(**fields) for name, fields in data["pins"].items()} if shaped else None
    except (OSError, ValueError, TypeError) as error:
        raise InvalidArgumentError(
            f"{where} is not a dkl_zoo pins file ({error}); regenerate it with dkl-zoo release"
        ) from None
    if pins is None:
        raise InvalidArgumentError(
            f'{where} is not a dkl_zoo pins file (expected {{"format": {FORMAT}, "pins": '
            "{...}}); regenerate it with dkl-zoo release"
        )
    for name, pin in pins.items():
        problems = pin.problems()
        if problems:
            raise InvalidArgumentError(f"{where}: the pin of {name} is invalid ({'; '.join(problems)})")
    return pins


def save_pins(pins: Mapping[str, Pin], path: str | os.PathLike[str]) -> None:
    """Write ``pins`` (sorted, atomic: a reader never sees half a file)."""
    from ._atomic import atomic_write_text

    data = {"format": FORMAT, "pins": {name: dataclasses.asdict(pins[name]) for name in sorted(pins)}}
    atomic_write_text(Path(path), json.dumps(data, indent=2) + "\n")


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse a pins file that could not be written (before anything slow or irreversible is done).

    Raises:
        InvalidArgumentError: its folder is missing or read-only, or the path is not a regular file.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        raise InvalidArgumentError(f"pins file {target} is not a regular file; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"cannot write the pins file {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InvalidArgumentError(
            f"cannot write the pins file {target}: not writable here (choose another pins "
            "file, or run where you may write it)"
        )


def update_pins(path: str | os.PathLike[str], changes: Mapping[str, Pin]) -> dict[str, Pin]:
    """Merge ``changes`` into the pins file under a lock: two releases writing one file at once both keep their
    pins (each reads what the other wrote, not what it saw at its start). Returns the pins now in the file."""
    from filelock import FileLock

    target = Path(path)
    with FileLock(str(_lock_path(target))):
        current = load_pins(target)
        current.update(changes)
        save_pins(current, target)
    return current


def apply_pin(entry, pins: Mapping[str, Pin]):  # type: ignore[no-untyped-def]
    """``entry`` with its pin applied (repo, revision, sha256, original_sha256, reference_sha256); unchanged when
    unpinned."""
    pin = pins.get(entry.name)
    if pin is None or entry.weights.embedded_file is not None:
        return entry
    namespace = settings.namespace_override()
    if namespace and namespace != pin.repo_id.split("/")[0]:
        # a mirror these pins do not describe: its commits are unknown, its bytes must still be the pinned ones
        return entry.with_weights(
            sha256=pin.sha256,
            original_sha256=pin.original_sha256,
            original_source=pin.original_source,
            reference_sha256=pin.reference_sha256,
        )
    return entry.with_weights(
        repo=pin.repo_id,
        revision=pin.revision,
        sha256=pin.sha256,
        original_sha256=pin.original_sha256,
        original_source=pin.original_source,
        reference_sha256=pin.reference_sha256,
    )
