"""``load``: name → verified weights → architecture built on the meta device → eval-mode model."""

from __future__ import annotations

import os

import torch
from torch import nn

from . import settings
from ._devices import checked_device
from ._integrity import LocatedFile, VerifiedFile, verify_or_discard
from .errors import LIST_MODELS, InvalidArgumentError
from .models import build_model, model_from_file, read_weights
from .registry import ModelEntry, get_entry

__all__ = ["load", "fetch_weights", "build_model", "read_weights", "model_info", "entry_of", "weights_sha256_of"]

_ENTRY_ATTR = "dkl_zoo_entry"
_SHA256_ATTR = "dkl_zoo_weights_sha256"


def _place(
    model: nn.Module,
    device: str | torch.device,
    dtype: torch.dtype | None,
    entry: ModelEntry,
    sha256: str | None = None,
) -> nn.Module:
    model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device=device)
    # a model remembers its entry (class names, input size, eps) and which bytes it was built from, as timm's
    # models carry their pretrained_cfg: predict, attack_image and export read them back
    setattr(model, _ENTRY_ATTR, entry)
    setattr(model, _SHA256_ATTR, sha256)
    if sha256 is not None:
        from ._weights_watch import remember_loaded

        remember_loaded(model)  # predict's cached ONNX export serves these weights only while they stay as loaded
    return model.eval()


def entry_of(model: nn.Module) -> ModelEntry | None:
    """The registry entry a model from ``load`` was built for (None for any other model)."""
    entry = getattr(model, _ENTRY_ATTR, None)
    return entry if isinstance(entry, ModelEntry) else None


def weights_sha256_of(model: nn.Module) -> str | None:
    """sha256 of the verified weights file a model from ``load`` was built from (None: random or other weights)."""
    sha256 = getattr(model, _SHA256_ATTR, None)
    return sha256 if isinstance(sha256, str) else None


def load(
    name: str | ModelEntry,
    *,
    pretrained: bool = True,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    endpoint: str | None = None,
    token: str | bool | None = None,
    allow_original: bool = True,
    progress: bool = True,
    verified_only: bool | None = None,
    weights_file: str | os.PathLike[str] | None = None,
) -> nn.Module:
    """The named checkpoint as an eval-mode model taking [0, 1] images, its weights verified.

    ``pretrained=False`` returns the architecture with fresh (random) weights. Otherwise the weights come from the
    Hub repo ``<namespace>/<name>`` (``DKL_ZOO_NAMESPACE``, default ``dkl-zoo``) through huggingface_hub's cache
    (``HF_ENDPOINT``, ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` apply), their sha256 is checked on every call, and
    they are assigned strictly to an architecture built on the meta device (no random initialisation is spent).
    ``name`` may also be a ``ModelEntry`` (e.g. ``model_info(name).with_weights(repo="me/my-fork", sha256=None)``:
    your own repo).

    While the Hub repo does not exist, ``allow_original`` fetches the authors' original file instead
    (converted and verified locally, see ``dkl_zoo.original``) and warns once; ``progress`` shows its
    download. Floating-point weights stored in another precision are cast to ``dtype`` (default: the
    architecture's float32); the model is moved to ``device``.

    The Hub side, as in ``huggingface_hub.hf_hub_download``: ``revision`` (a branch, tag or commit; default
    the pinned one, else ``main``; a revision other than the pin is checked against the hash the Hub reports),
    ``cache_dir`` (default ``HF_HUB_CACHE``), ``local_files_only`` (never ask the Hub), ``force_download``
    (fetch again even when cached), ``endpoint`` (default ``HF_ENDPOINT``), ``token`` (private repos).

    ``verified_only=True`` fails closed (default: ``DKL_ZOO_VERIFIED_ONLY``, off): weights whose sha256 is not pinned
    (registry or pins file) are refused before any download, so nothing is trusted on first use and the Hub's
    own ETag is never the reference; packaged and pinned entries load as usual, and an original-release
    fallback is used only when it converts to the pinned bytes.

    ``weights_file`` uses a local safetensors file instead of the entry's weights (a checkpoint of yours with
    the entry's architecture, a training run's export): nothing is downloaded; with ``verified_only`` it must
    hold the pinned bytes.

    Raises:
        UnknownModelError: ``name`` is not in the registry.
        InvalidArgumentError: ``dtype`` or ``device`` cannot be used here (checked before any download).
        IntegrityError: the file's sha256 is not the pinned / Hub-reported one; it was removed from the
            cache, and the next call fetches a fresh copy.
        UnpinnedWeightsError: ``verified_only`` and the weights (or the revision asked for) are not pinned.
        RemoteNotFoundError, OfflineError, DownloadError, DownloadTimeoutError: see ``dkl_zoo._hub.locate``.
        WeightsFormatError, StateDictMismatchError: the file is not safetensors, or does not fit the model.
    """
    _check_load_arguments(
        name,
        revision=revision,
        cache_dir=cache_dir,
        endpoint=endpoint,
        token=token,
        flags={
            "pretrained": pretrained,
            "local_files_only": local_files_only,
            "force_download": force_download,
            "allow_original": allow_original,
            "progress": progress,
        },
    )
    entry = name if isinstance(name, ModelEntry) else get_entry(name)
    fail_closed = settings.verified_only(verified_only)
    if fail_closed and pretrained and weights_file is None:
        _check_pinned(entry, revision)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise InvalidArgumentError(
            f"dtype must be a floating-point dtype (torch.float32, torch.bfloat16, ...), got {dtype!r}"
        )
    device = checked_device(device)
    if weights_file is not None:
        model, sha256 = _from_local_file(entry, weights_file, dtype, fail_closed)
        return _place(model, device, dtype, entry, sha256)
    if not pretrained:
        return _place(build_model(entry), device, dtype, entry)
    if entry.weights.embedded_file is not None and revision is None and entry.weights.repo is None:
        model, sha256 = _verified_model(entry, _embedded(entry), dtype)
        return _place(model, device, dtype, entry, sha256)
    from . import _hub as hub
    from .errors import HubAccessError, OfflineError, RepositoryNotFoundError

    try:
        located = hub.locate(
            entry,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            force_download=force_download,
            endpoint=endpoint,
            token=token,
            progress=progress,
        )
    except RepositoryNotFoundError:
        if revision is not None or not allow_original or not entry.weights.original_sources:
            raise
        located = _original(entry, fetch=True, progress=progress, cache_dir=cache_dir)
    except (OfflineError, HubAccessError):
        cached = (
            _original(entry, fetch=False, progress=progress, cache_dir=cache_dir)
            if allow_original and revision is None
            else None
        )
        if cached is None:
            raise
        located = cached
    if fail_closed and located.expected_sha256 != entry.weights.sha256:
        from .errors import UnpinnedWeightsError

        raise UnpinnedWeightsError(
            f"{entry.name}: the original release converted to weights other than the pinned "
            f"sha256 {entry.weights.sha256}, and verified_only is on; they were not used"
        )
    model, sha256 = _verified_model(entry, located, dtype)
    return _place(model, device, dtype, entry, sha256)


def _from_local_file(
    entry: ModelEntry, path: str | os.PathLike[str], dtype: torch.dtype | None, fail_closed: bool
) -> tuple[nn.Module, str]:
    """A local safetensors file (a checkpoint of the user's, a training run's export): checked against the
    entry's sha256 when it is pinned and fail-closed mode is on, else hashed and used as it is."""
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise InvalidArgumentError(f"weights_file {file}: no such file")
    if fail_closed:
        _check_pinned(entry, None)
    expected = entry.weights.sha256 if fail_closed else None
    located = LocatedFile(path=file, revision="local file", expected_sha256=expected, hub_etag=None)
    if expected is None:
        from ._integrity import file_digest

        return model_from_file(entry, file, dtype), file_digest(file)
    return _verified_model(entry, located, dtype)


def _check_pinned(entry: ModelEntry, revision: str | None) -> None:
    """Fail closed: only bytes with a pinned sha256 (the registry's, or the pins file's) may load."""
    from .errors import UnpinnedWeightsError

    if entry.weights.sha256 is None:
        raise UnpinnedWeightsError(
            f"{entry.name}: its weights have no pinned sha256, and verified_only is on (DKL_ZOO_VERIFIED_ONLY or "
            "verified_only=True): refused before any download. Load a pinned entry, add a pin to a pins file "
            "(DKL_ZOO_PINS), or turn verified_only off to trust the Hub's hash"
        )
    if revision is not None and revision != entry.weights.revision:
        raise UnpinnedWeightsError(
            f"{entry.name}: revision {revision!r} is not the pinned one ({entry.weights.revision}), and verified_only "
            "is on: its bytes could only be checked against the Hub's own hash. Leave revision out"
        )


def _check_load_arguments(
    name: object, *, revision: object, cache_dir: object, endpoint: object, token: object, flags: dict[str, object]
) -> None:
    """Each argument of ``load`` of the right kind, before any file or server is touched."""
    if not isinstance(name, (str, ModelEntry)):
        raise InvalidArgumentError(
            f"name must be a registry name (see {LIST_MODELS.python}) or a ModelEntry, got {type(name).__name__}"
        ).with_remedy(LIST_MODELS)
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        raise InvalidArgumentError(
            f"revision must be a branch, tag or commit id (a non-empty string), got {revision!r}"
        )
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise InvalidArgumentError(f"cache_dir must be a path (str or os.PathLike), got {type(cache_dir).__name__}")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
        raise InvalidArgumentError(f"endpoint must be an http(s) URL such as https://huggingface.co, got {endpoint!r}")
    if token is not None and not isinstance(token, (str, bool)):
        raise InvalidArgumentError(
            f"token must be a string, True (the saved login) or False, got {type(token).__name__}"
        )
    for flag, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"{flag} must be True or False, got {value!r}")


def fetch_weights(name: str | ModelEntry, *, revision: str | None = None) -> VerifiedFile:
    """The entry's weights file, downloaded (or found in the cache, or shipped in the package) and verified, without
    building a model: ``dkl-zoo download`` fills a cache this way for machines that are offline.

    Raises:
        the errors of ``load`` for the Hub and the file's content.
    """
    entry = name if isinstance(name, ModelEntry) else get_entry(name)
    if entry.weights.embedded_file is not None and revision is None:
        return verify_or_discard(_embedded(entry))  # shipped in the package: nothing to download
    from . import _hub as hub

    return hub.resolve(entry, revision=revision)


def _embedded(entry: ModelEntry) -> LocatedFile:
    """A model shipped inside the package: no Hub call at all (huggingface_hub is not even imported)."""
    from pathlib import Path

    path = Path(__file__).resolve().parent / str(entry.weights.embedded_file)
    if not path.exists():
        from .errors import IntegrityError

        raise IntegrityError(
            str(path),
            str(entry.weights.sha256),
            "no file",
            hint="The packaged weights are missing from this installation; reinstall dkl-zoo.",
        )
    if entry.weights.sha256 is None:
        raise InvalidArgumentError(f"{entry.name}: a packaged model must have its sha256 pinned in the registry")
    return LocatedFile(path=path, revision="packaged", expected_sha256=entry.weights.sha256, hub_etag=None)


def _original(
    entry: ModelEntry, *, fetch: bool, progress: bool, cache_dir: str | os.PathLike[str] | None
) -> LocatedFile | None:
    """The original-release fallback; with ``cache_dir`` its files live there too (``<cache_dir>/dkl_zoo``), else in
    ``DKL_ZOO_CACHE``."""
    from pathlib import Path

    from . import original

    root = Path(cache_dir) / "dkl_zoo" if cache_dir is not None else None
    found = (
        original.fetch_original(entry, progress=progress, root=root) if fetch else original.cached_original(entry, root)
    )
    if found is None:
        return None
    import warnings

    from . import _hub as hub

    # said at the caller's load(): Python's warning registry keeps it to once per place, no state of ours
    warnings.warn(
        f"{entry.name}: the Hub repo {hub.repo_id_of(entry)} does not exist yet; the weights come from the "
        f"original release ({found.source}), converted to safetensors and verified locally.",
        UserWarning,
        stacklevel=3,
    )
    return LocatedFile(
        path=found.path,
        revision="original release",
        expected_sha256=found.sha256,
        hub_etag=None,
        cache_files=original.cache_files(entry, found.path, root),
    )


def _verified_model(entry: ModelEntry, located: LocatedFile, dtype: torch.dtype | None = None) -> tuple[nn.Module, str]:
    """Hash the file on a second thread while the model is assembled; return it (and the file's sha256) only
    if the hash matches.

    Hashing 185 MB is the floor of a cached load; overlapping it with building and reading hides the rest.
    A file that fails the hash is removed from the cache (``verify_or_discard``), and its ``IntegrityError``
    wins over any error that reading the wrong bytes caused.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dkl-zoo-sha256") as pool:
        check = pool.submit(verify_or_discard, located)
        try:
            model = model_from_file(entry, located.path, dtype)
        except BaseException:
            check.result()
            raise
        verified = check.result()  # raises IntegrityError: the model built from the file is then dropped
    return model, verified.sha256


def model_info(name: str) -> ModelEntry:
    """All metadata of one entry, its pin applied: ``arch``, ``weights`` (repo, revision, sha256, originals)
    and ``provenance`` (numbers with their sources, recipe, notes).

    Not ``huggingface_hub.model_info``, which asks the Hub about a repo: this one reads the zoo's registry and
    makes no request.
    """
    return get_entry(name)
