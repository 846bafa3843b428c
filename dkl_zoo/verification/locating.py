"""Where an entry's reference record is: inside the package (the shipped models) or in the entry's Hub repo,
its sha256 checked against the pin as the weights' is; and the record read, or why there is none."""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidArgumentError
from ..registry import ModelEntry
from .reference import Reference, read_reference

__all__ = ["locate_reference", "reference_for"]


def locate_reference(entry: ModelEntry) -> Path:
    """The entry's verified reference record: inside the package, or from the entry's Hub repo (cached, offline
    when the cache has it), its sha256 checked against the pin as the weights' is.

    Raises:
        InvalidArgumentError: the entry has no reference record.
        IntegrityError: the file is not the pinned one (a cached copy is removed, so the next call fetches anew).
        the Hub errors of ``dkl_zoo.load`` (offline, not found, ...).
    """
    from .._integrity import LocatedFile, verify_or_discard

    weights = entry.weights
    if weights.embedded_reference is not None:
        path = Path(__file__).resolve().parents[1] / weights.embedded_reference
        if weights.reference_sha256 is None:
            raise InvalidArgumentError(f"{entry.name}'s shipped reference has no recorded sha256")
        return verify_or_discard(
            LocatedFile(path=path, revision="packaged", expected_sha256=weights.reference_sha256, hub_etag=None)
        ).path
    if weights.embedded_file is not None and weights.repo is None:
        raise InvalidArgumentError(f"{entry.name} ships inside the package without a reference record")
    from .. import _hub as hub

    located = hub.locate(
        entry.with_weights(filename=weights.reference_filename, sha256=weights.reference_sha256), progress=False
    )
    return verify_or_discard(located).path


def reference_for(entry: ModelEntry) -> tuple[Reference | None, str]:
    """The entry's reference and how it was found, or None and why there is none (no paired check then)."""
    from ..errors import EntryNotFoundError, IntegrityError, OfflineError, RemoteNotFoundError

    try:
        path = locate_reference(entry)
    except IntegrityError:
        raise  # a reference that is not the pinned one is refused, never used and never ignored
    except EntryNotFoundError:
        return None, f"{entry.name}'s Hub repo publishes no reference record yet"
    except (OfflineError, RemoteNotFoundError) as error:
        return None, f"{entry.name}'s reference record could not be fetched ({error})"
    except InvalidArgumentError as error:
        return None, str(error)
    reference = read_reference(path)
    if reference.entry != entry.name:
        raise InvalidArgumentError(f"{path} is the reference of {reference.entry}, not of {entry.name}")
    return reference, f"{path.name} sha256 {entry.weights.reference_sha256 or '(Hub ETag)'}"
