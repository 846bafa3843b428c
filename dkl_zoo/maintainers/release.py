"""``dkl-zoo release``: mirror each original checkpoint to the Hub and pin it, in one idempotent command.

For each entry: fetch the original (the README's Drive file, then RobustBench's copy) and record its
sha256; convert it (deterministic, no pickle code runs); optionally check its clean accuracy on the first
test images against the reported number; upload ``model.safetensors``, ``config.json`` and the card in one
commit (``create_repo`` + ``create_commit``, honouring ``HF_ENDPOINT``); write the pin (repo, full commit id,
sha256 of the weights and of the original) into the pins file. The pin is written after every entry, the
downloaded original is kept in the work folder, and an upload that already reached the Hub is recognised
by its sha256, so an interrupted run resumes without downloading or committing twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._pins import DEFAULT_PINS, Pin, check_writable, load_pins, update_pins
from ..errors import IntegrityError, InvalidArgumentError, ReleaseCheckError
from ..registry import REGISTRY, RELEASED, ModelEntry, OriginalSource

__all__ = ["ReleaseRow", "release", "clean_accuracy_gate"]

_LOGGER = logging.getLogger(__name__)


@dataclass
class ReleaseRow:
    """One line of the summary table."""

    name: str
    action: str
    repo_id: str
    revision: str = ""
    sha256: str = ""


def release(
    names: Sequence[str | ModelEntry] | None,
    *,
    namespace: str,
    pins_path: str | os.PathLike[str] = DEFAULT_PINS,
    dry_run: bool = False,
    check_data: str | os.PathLike[str] | None = None,
    check_n: int = 1000,
    work_dir: str | os.PathLike[str] | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    references: Sequence[str | os.PathLike[str]] = (),
) -> list[ReleaseRow]:
    """Release ``names`` (None: every released entry) under ``namespace``; returns the summary rows. Each step is
    said through ``echo`` (default: the ``dkl_zoo.maintainers.release`` logger).

    ``references``: reference records (``dkl-zoo reference``) to publish as ``reference.safetensors`` beside the
    weights of the entry each names, in a commit of its own; the pin then moves to that commit and records the
    record's sha256 (``reference_sha256``), so ``verify`` fetches and checks it like the weights. A record must be of
    the pinned weights.

    Raises:
        InvalidArgumentError: unknown or packaged names, a bad namespace or check size (before any work).
        OriginalReleaseError, IntegrityError: the original could not be fetched, or is not the pinned file.
        ReleaseCheckError: the converted model misses its reported clean accuracy on ``check_data``.
    """
    echo = echo or _LOGGER.info  # a library logs; the command passes print
    entries = _entries(names)
    _check_namespace(namespace)
    if check_data is not None:
        from .._arguments import checked_count

        checked_count(check_n, "check_n", 1)
    pins_file = Path(pins_path)
    if not dry_run:
        check_writable(pins_file)  # before anything is fetched or uploaded
    pins = load_pins(pins_file)
    work = Path(work_dir) if work_dir is not None else _default_work_dir()
    records = _references(references, {entry.name for entry in entries})  # all checked before any work
    api = None if dry_run else _api(endpoint, token)
    rows = []
    for entry in entries:
        repo_id = f"{namespace}/{entry.name}"
        pin = pins.get(entry.name)
        if pin is not None and pin.repo_id == repo_id and (dry_run or _hub_has(api, pin, repo_id)):
            if entry.name in records and not dry_run:
                pin = _publish_reference(api, pin, records[entry.name], echo)
                pins = update_pins(pins_file, {entry.name: pin})
                rows.append(ReleaseRow(entry.name, "reference published", repo_id, pin.revision, pin.sha256))
                continue
            rows.append(
                ReleaseRow(
                    entry.name, "up to date" if not dry_run else "pinned: skip", repo_id, pin.revision, pin.sha256
                )
            )
            continue
        if dry_run:
            sources = ", then ".join(s.key for s in entry.weights.original_sources)
            echo(
                f"{entry.name}: would fetch {sources}; convert; "
                + (f"check clean accuracy on {check_n} images of {check_data}; " if check_data else "")
                + f"commit model.safetensors, config.json, README.md to {repo_id}; pin it in {pins_file}"
            )
            rows.append(ReleaseRow(entry.name, "would release", repo_id))
            continue
        row, new_pin = _release_one(entry, repo_id, pin, api, work / entry.name, check_data, check_n, progress, echo)
        pins = update_pins(pins_file, {entry.name: new_pin})  # after every entry, merged under a lock
        if entry.name in records:
            new_pin = _publish_reference(api, new_pin, records[entry.name], echo)
            pins = update_pins(pins_file, {entry.name: new_pin})
            row.revision = new_pin.revision
        rows.append(row)
    echo(_summary(rows))
    return rows


def _release_one(
    entry: ModelEntry,
    repo_id: str,
    pin: Pin | None,
    api,
    work: Path,  # type: ignore[no-untyped-def]
    check_data,
    check_n: int,
    progress: bool,
    echo: Callable[[str], None],
) -> tuple[ReleaseRow, Pin]:
    from .._integrity import file_digest
    from ..original.convert import convert_checkpoint

    raw, raw_sha256, source = _fetch(entry, work, progress)
    if pin is not None and pin.original_sha256 and pin.original_sha256 != raw_sha256:
        raise IntegrityError(
            str(raw),
            pin.original_sha256,
            raw_sha256,
            hint="The original file changed since it was pinned; not published. Check the source "
            "before releasing it under a new pin.",
        )
    folder = convert_checkpoint(raw, entry, work / "repo")
    weights_sha256 = file_digest(folder / "model.safetensors")
    if check_data is not None:
        accuracy = clean_accuracy_gate(entry, folder / "model.safetensors", check_data, check_n)
        echo(
            f"{entry.name}: clean accuracy {100 * accuracy:.2f} % on the first {check_n} test images "
            f"(reported {entry.headline.clean_acc:.2f} %)"
        )
    from .._hub_errors import api_errors

    with api_errors(f"releasing {entry.name}", repo_id, api.endpoint):
        commit, action = _upload(api, repo_id, folder, weights_sha256)
    echo(f"{entry.name}: {action} {repo_id}@{commit} (sha256 {weights_sha256})")
    new_pin = Pin(
        repo_id=repo_id, revision=commit, sha256=weights_sha256, original_sha256=raw_sha256, original_source=source.key
    )
    return ReleaseRow(entry.name, action, repo_id, commit, weights_sha256), new_pin


def _references(paths: Sequence[str | os.PathLike[str]], names: set[str]) -> dict[str, Path]:
    """Each record by the entry it names; refused before any work when it is not a record or names no entry
    being released."""
    from ..verification.reference import read_reference

    found: dict[str, Path] = {}
    for path in map(Path, paths):
        record = read_reference(path)
        if record.entry not in names:
            raise InvalidArgumentError(f"{path} is the reference of {record.entry}, which is not being released here")
        if record.entry in found:
            raise InvalidArgumentError(f"two references of {record.entry}: {found[record.entry]} and {path}")
        found[record.entry] = path
    return found


def _publish_reference(api, pin: Pin, path: Path, echo: Callable[[str], None]) -> Pin:  # type: ignore[no-untyped-def]
    """``path`` committed as reference.safetensors beside the pinned weights; the pin moved to that commit."""
    import dataclasses

    from .._hub_errors import api_errors
    from .._integrity import file_digest
    from ..verification.reference import read_reference

    record = read_reference(path)
    if record.weights_sha256 != pin.sha256:
        raise IntegrityError(
            str(path),
            pin.sha256,
            record.weights_sha256,
            algorithm="weights sha256 of the record",
            hint="The reference was made from other weights than the pinned ones; not published.",
        )
    sha256 = file_digest(path)
    if pin.reference_sha256 == sha256:
        echo(f"{record.entry}: reference already published (sha256 {sha256})")
        return pin
    with api_errors(f"publishing the reference of {record.entry}", pin.repo_id, api.endpoint):
        info = api.upload_file(
            path_or_fileobj=str(path),
            path_in_repo="reference.safetensors",
            repo_id=pin.repo_id,
            commit_message=f"dkl-zoo release: reference record of {record.entry}",
        )
    commit = getattr(info, "oid", None) or str(info).rsplit("/", 1)[-1]
    echo(f"{record.entry}: reference published {pin.repo_id}@{commit} (sha256 {sha256})")
    return dataclasses.replace(pin, revision=commit, reference_sha256=sha256)


def _entries(names: Sequence[str | ModelEntry] | None) -> list[ModelEntry]:
    """Registry entries (unpinned: the card uploaded with the weights cannot know its own commit) or entries
    given directly (a fork's own)."""
    chosen = list(RELEASED) if not names else list(names)
    unknown = [n for n in chosen if isinstance(n, str) and n not in REGISTRY]
    if unknown:
        raise InvalidArgumentError(f"unknown model(s) {', '.join(unknown)}; see `dkl-zoo list`")
    entries = [REGISTRY[n] if isinstance(n, str) else n for n in chosen]
    entries = list({entry.name: entry for entry in entries}.values())  # each once
    packaged = [e.name for e in entries if e.weights.embedded_file is not None or not e.weights.original_sources]
    if packaged:
        raise InvalidArgumentError(f"{', '.join(packaged)} has no original release to mirror")
    return entries


def _check_namespace(namespace: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if "/" in namespace:
        raise InvalidArgumentError(f"namespace {namespace!r} must be a single name, without '/'")
    try:
        validate_repo_id(f"{namespace}/x")
    except HFValidationError:
        raise InvalidArgumentError(f"namespace {namespace!r} is not a Hub user or organisation name") from None


def _default_work_dir() -> Path:
    from .. import settings

    return settings.cache_root()[0] / "release"


def _api(endpoint: str | None, token: str | bool | None):  # type: ignore[no-untyped-def]
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)


def _fetch(entry: ModelEntry, work: Path, progress: bool) -> tuple[Path, str, OriginalSource]:
    """The original file in ``work`` (kept between runs), its sha256 and where it came from."""
    from .._atomic import atomic_write_text
    from .._integrity import file_digest
    from ..original.drive import SourceDownloads

    work.mkdir(parents=True, exist_ok=True)
    raw, record_path = work / "original.pt", work / "original.json"
    if raw.exists() and record_path.exists():
        try:
            record = json.loads(record_path.read_text())
            source = next(s for s in entry.weights.original_sources if s.key == record["source"])
            if file_digest(raw) == record["sha256"]:
                return raw, record["sha256"], source
        except (OSError, ValueError, KeyError, StopIteration):
            pass
    downloads = SourceDownloads(entry, work, progress=progress)
    for partial, source in downloads:
        sha256 = file_digest(partial)
        os.replace(partial, raw)
        atomic_write_text(record_path, json.dumps({"source": source.key, "sha256": sha256}) + "\n")
        return raw, sha256, source
    raise downloads.error(f"{entry.name}: no original file could be fetched")


def clean_accuracy_gate(entry: ModelEntry, weights: Path, data_dir: str | os.PathLike[str], n: int) -> float:
    """Clean accuracy of ``weights`` on the first ``n`` test images; refuses beyond 3 sigma of the reported one.

    Raises:
        ReleaseCheckError: |measured - reported| > 3 * sqrt(p (1 - p) / n), p the reported clean accuracy.
    """
    from .._classes import predicted_classes
    from ..data import load_test_set
    from ..models import model_from_file

    model = model_from_file(entry, weights).eval()
    x, y = load_test_set(entry.dataset, n, data_dir)
    accuracy = int((predicted_classes(model, x, batch_size=250) == y).sum()) / len(y)
    expected = entry.headline.clean_acc / 100
    tolerance = 3 * math.sqrt(expected * (1 - expected) / len(y))
    if abs(accuracy - expected) > tolerance:
        raise ReleaseCheckError(
            f"{entry.name}: clean accuracy {100 * accuracy:.2f} % on the first {len(y)} test images of {data_dir} "
            f"is more than 3 sigma ({100 * tolerance:.2f} points) from the reported {100 * expected:.2f} %: not "
            "published. Wrong file, wrong architecture, or wrong data?"
        )
    return accuracy


def _hub_has(api, pin: Pin, repo_id: str) -> bool:  # type: ignore[no-untyped-def]
    """Does the pinned commit hold the pinned bytes (its model.safetensors has the pinned sha256)?"""
    from .._hub_errors import api_errors

    with api_errors(f"checking the pin of {repo_id}", repo_id, api.endpoint):
        metadata = _metadata(api, pin.repo_id, pin.revision)
    return metadata is not None and metadata.commit_hash == pin.revision and metadata.etag == pin.sha256


def _metadata(api, repo_id: str, revision: str):  # type: ignore[no-untyped-def]
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    url = hf_hub_url(repo_id, "model.safetensors", revision=revision, endpoint=api.endpoint)
    try:
        return get_hf_file_metadata(url, token=api.token, endpoint=api.endpoint)
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
        return None


def _upload(api, repo_id: str, folder: Path, weights_sha256: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """One commit with the three files; none when the repo's main already holds these weights."""
    from .publish import commit_repo_folder

    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    current = _metadata(api, repo_id, "main")
    if current is not None and current.etag == weights_sha256 and current.commit_hash:
        return current.commit_hash, "already on the Hub"
    commit = commit_repo_folder(
        api, repo_id, folder, message=f"dkl-zoo release: {folder.parent.name} converted from the original checkpoint"
    )
    return commit, "released"


def _summary(rows: Iterable[ReleaseRow]) -> str:
    rows = list(rows)
    header = ("name", "action", "repo", "revision", "model.safetensors sha256")
    table = [header] + [(r.name, r.action, r.repo_id, r.revision, r.sha256) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines)
