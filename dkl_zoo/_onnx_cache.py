"""``predict``'s fast path on the CPU: the model's verified ONNX export, run by onnxruntime, cached and trusted
like the weights.

The file is made once per weights and export settings by ``dkl_zoo.export`` (which checks its logits against
PyTorch's before the file exists) and kept in the package's cache::

    <DKL_ZOO_CACHE>/onnx/<entry name>/<weights>-<settings>.onnx   the export
    <DKL_ZOO_CACHE>/onnx/<entry name>/<weights>-<settings>.json   its record: the file's sha256, the weights', ...
    <DKL_ZOO_CACHE>/onnx/<entry name>/<weights>-<settings>.lock   held while one process builds it

``<weights>`` is the sha256 of the verified weights file for a model that still holds what ``load`` verified,
else ``content-`` and the sha256 of its tensors; ``<settings>`` digests what shapes the file (the export's
settings, the versions of torch, onnx, onnxscript and dkl_zoo). The file's bytes are read once, checked against
the record's sha256, and only those checked bytes are given to onnxruntime: a damaged or swapped file is rebuilt,
never run. ``dkl-zoo forget-exports`` deletes the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CacheError, ExportCheckError, InvalidArgumentError, MissingDependencyError
from .registry import ModelEntry

__all__ = [
    "OnnxForward",
    "onnx_forward",
    "onnx_cache_folder",
    "runtime_installed",
    "content_sha256",
    "forget_exports",
    "forget_sessions",
    "require_runtime",
]

_LOCK_TIMEOUT = 900.0
"""Seconds to wait for another process building the same file (WRN-34-10 takes about a minute)."""
_SESSIONS_KEPT = 4
"""Sessions kept in memory by weights and settings, so a second ``load`` of an entry reuses the first's."""


@lru_cache(maxsize=1)
def runtime_installed() -> bool:
    """Whether the ``export`` extra is here: onnxruntime to run the file, onnx and onnxscript to make it."""
    import importlib.util

    return all(importlib.util.find_spec(module) is not None for module in ("onnxruntime", "onnx", "onnxscript"))


def require_runtime() -> None:
    """Refuse ``backend="onnxruntime"`` without the ``export`` extra, before any model is loaded.

    Raises:
        MissingDependencyError: naming the extra.
    """
    if not runtime_installed():
        raise MissingDependencyError(
            "backend='onnxruntime' needs onnxruntime, onnx and onnxscript: pip install 'dkl-zoo[export]'"
        )


def onnx_cache_folder() -> Path:
    """Where the exports are kept: ``onnx`` in the package's cache (``DKL_ZOO_CACHE``, default ~/.cache/dkl_zoo)."""
    from .settings import cache_root

    return cache_root()[0] / "onnx"


def _settings_digest(entry: ModelEntry) -> str:
    from .exporting import CHECK_BATCH

    versions = _versions()
    settings = {
        "format": "onnx",
        "dynamic_batch": True,
        "atol": 1e-4,
        "check_batch": CHECK_BATCH,
        "input_size": list(entry.arch.input_size),
        "architecture": entry.arch.name,
        **versions,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from importlib import metadata

    return {module: metadata.version(module) for module in ("torch", "onnx", "onnxscript", "dkl-zoo")}


def content_sha256(model: nn.Module) -> str:
    """The key of weights from no verified file: the state dict's sha256 with its key names, salted with the
    model's class (a subclass with another ``forward`` over the same weights computes something else)."""
    from ._integrity import state_dict_sha256

    kind = type(model)
    return state_dict_sha256(model, names=True, salt=f"{kind.__module__}.{kind.__qualname__}|")


class OnnxForward:
    """Logits of a float32 N×C×H×W batch from a checked ONNX file's bytes, as the model's forward gives them."""

    def __init__(self, session: Any, onnx_sha256: str, fingerprint: tuple[float, ...]) -> None:
        self.session, self.onnx_sha256, self.fingerprint = session, onnx_sha256, fingerprint

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        images = x.detach().to(dtype=torch.float32, device="cpu").contiguous().numpy()
        return torch.from_numpy(self.session.run(["logits"], {"images": images})[0])


_SERVED: weakref.WeakKeyDictionary[nn.Module, dict[bool, OnnxForward]] = weakref.WeakKeyDictionary()
_SESSIONS: OrderedDict[str, tuple[Any, str]] = OrderedDict()
_SAID: set[str] = set()
_GAVE_UP: set[str] = set()
"""Weights and settings whose export ``auto`` could not make or keep in this process: not tried on every call."""
_GUARD = threading.Lock()


def _say_once(key: str, text: str) -> None:
    """One line per process and reason, not one per call."""
    with _GUARD:
        if key in _SAID:
            return
        _SAID.add(key)
    warnings.warn(text, RuntimeWarning, stacklevel=4)


def onnx_forward(
    model: nn.Module, entry: ModelEntry, backend: str, *, share_cores: bool = False
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """onnxruntime's forward of ``model`` (an eval-mode float32 CPU model fitting ``entry``), or None where
    ``backend="auto"`` uses torch: no ``export`` extra (said once), weights changed after ``load`` (an export per
    edit would cost seconds each), a cache that cannot be written, or an export whose logits differ from PyTorch's
    (each said once).

    ``share_cores``: other processes (DataLoader workers) decode while the model computes, so onnxruntime takes
    half of PyTorch's threads and they sleep when idle instead of spinning: on 2 cores with 2 workers, 6,600 images/s
    (2 spinning threads: 5,600; 2 sleeping: 6,200). Alone, all threads and spinning answer one image sooner.

    Raises:
        MissingDependencyError: ``backend="onnxruntime"`` without the ``export`` extra.
        CacheError: ``backend="onnxruntime"`` and the cache cannot hold the file.
        ExportCheckError: ``backend="onnxruntime"`` and the export computes other logits than PyTorch.
    """
    from ._weights_watch import fingerprint, unchanged_since_load
    from .loading import weights_sha256_of

    explicit = backend == "onnxruntime"
    if not runtime_installed():
        if explicit:
            require_runtime()
        _say_once(
            "runtime",
            "predictions run on PyTorch; pip install 'dkl-zoo[export]' runs them faster on the CPU "
            "through onnxruntime, with the same answers (backend='torch' keeps PyTorch and silences "
            "this)",
        )
        return None
    spinning = not share_cores
    now = fingerprint(model)
    served = _SERVED.get(model, {}).get(spinning)
    if served is not None and now is not None and served.fingerprint == now:
        return served
    if now is None:
        if explicit:
            raise InvalidArgumentError("backend='onnxruntime' needs the model's weights on the CPU in float32")
        return None
    sha256 = weights_sha256_of(model)
    if sha256 is not None and unchanged_since_load(model, now):
        key = sha256
    elif not explicit:
        return None  # fine-tuned or edited weights: PyTorch answers for them, no export per change
    else:
        key = "content-" + content_sha256(model)
    attempt = f"{entry.name}|{key}|{onnx_cache_folder()}"
    if not explicit and attempt in _GAVE_UP:
        return None
    try:
        session, onnx_sha256 = _session(model, entry, key, spinning)
    except (CacheError, ExportCheckError) as error:  # no usable file: PyTorch answers, and says why once
        if explicit:
            raise
        _GAVE_UP.add(attempt)
        _say_once(f"{type(error).__name__} {error}", f"predicting with PyTorch: {error}")
        return None
    forward = OnnxForward(session, onnx_sha256, now)
    _SERVED.setdefault(model, {})[spinning] = forward
    return forward


def _paths(entry: ModelEntry, key: str) -> tuple[Path, Path, Path]:
    stem = onnx_cache_folder() / entry.name / f"{key[:48]}-{_settings_digest(entry)}"
    return stem.with_suffix(".onnx"), stem.with_suffix(".json"), stem.with_suffix(".lock")


def _session(model: nn.Module, entry: ModelEntry, key: str, spinning: bool) -> tuple[Any, str]:
    onnx_path, record_path, lock_path = _paths(entry, key)
    kept_as = f"{onnx_path}|{spinning}"
    with _GUARD:
        kept = _SESSIONS.get(kept_as)
        if kept is not None:
            _SESSIONS.move_to_end(kept_as)
            return kept
    opened = _open_checked(onnx_path, record_path, key, spinning)
    if opened is None:
        opened = _build(model, entry, key, onnx_path, record_path, lock_path, spinning)
    with _GUARD:
        _SESSIONS[kept_as] = opened
        while len(_SESSIONS) > _SESSIONS_KEPT:
            _SESSIONS.popitem(last=False)
    return opened


def _open_checked(onnx_path: Path, record_path: Path, key: str, spinning: bool) -> tuple[Any, str] | None:
    """A session over the file's bytes when they are the ones its record names; None when either is missing,
    unreadable, or does not match (the caller rebuilds)."""
    try:
        record = json.loads(record_path.read_text())
        data = onnx_path.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("weights") != key:
        return None
    sha256 = hashlib.sha256(data).hexdigest()
    if record.get("onnx_sha256") != sha256:
        return None  # damaged or swapped: never run
    import onnxruntime

    options = onnxruntime.SessionOptions()
    threads = torch.get_num_threads()  # the same share of the machine as PyTorch
    options.intra_op_num_threads = threads if spinning else max(1, threads // 2)  # the workers decode on the rest
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime raises its own Fail/InvalidGraph types for a file it cannot run
        return None
    return session, sha256


def _writable_folder(folder: Path) -> None:
    """Refuse a cache that cannot take the file, by its mode bits as well (as root, ``os.access`` says yes)."""
    from ._atomic import existing_ancestor

    existing = folder if folder.exists() else existing_ancestor(folder)
    if not existing.is_dir():
        raise CacheError(
            f"the ONNX cache {folder} cannot be made: {existing} is a file (set DKL_ZOO_CACHE to a "
            "folder, or run dkl-zoo forget-exports)"
        )
    info = existing.stat()
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(existing, os.W_OK):
        raise CacheError(
            f"the ONNX cache {existing} is read-only (make it writable, or set DKL_ZOO_CACHE to a writable folder)"
        )


def _build(
    model: nn.Module, entry: ModelEntry, key: str, onnx_path: Path, record_path: Path, lock_path: Path, spinning: bool
) -> tuple[Any, str]:
    """Export under the file lock (a process that waited finds the file built and checks it), then record."""
    from filelock import FileLock, Timeout

    from ._atomic import atomic_write_text, remove_quietly
    from .exporting import export

    _writable_folder(onnx_path.parent)
    try:
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path), timeout=_LOCK_TIMEOUT)
        with lock:
            opened = _open_checked(onnx_path, record_path, key, spinning)
            if opened is not None:
                return opened
            remove_quietly(record_path)  # the record goes first: a file without one is never trusted
            remove_quietly(onnx_path)
            result = export(model, onnx_path, entry=entry)
            record = {
                "weights": key,
                "onnx_sha256": result.sha256,
                "entry": entry.name,
                "max_abs_diff": result.max_abs_diff,
                "checked_batches": list(result.checked_batches),
                "metadata": result.metadata,
            }
            atomic_write_text(record_path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    except Timeout:
        raise CacheError(
            f"another process has held {lock_path} for {_LOCK_TIMEOUT:.0f} s while building the same "
            "export; if none is running, delete the lock file"
        ) from None
    except OSError as error:
        raise CacheError(f"the ONNX cache {onnx_path.parent} cannot be written: {error.strerror or error}") from None
    except InvalidArgumentError as error:  # the export's own output check: a path that cannot be written
        raise CacheError(f"the ONNX cache cannot hold {onnx_path.name}: {error}") from None
    opened = _open_checked(onnx_path, record_path, key, spinning)
    if opened is None:
        raise CacheError(
            f"{onnx_path} was written and checked, but changed before it could be read back; run "
            "again (another program writing to the cache?)"
        )
    return opened


def forget_sessions() -> None:
    """Let go of the sessions this process holds: the next call reads and checks the cached file again."""
    with _GUARD:
        _SESSIONS.clear()
        _SERVED.clear()
        _GAVE_UP.clear()


def forget_exports() -> tuple[Path, int]:
    """Delete every cached export (and its record and lock), and the sessions held in memory: the folder and how
    many files went."""
    import shutil

    forget_sessions()
    folder = onnx_cache_folder()
    count = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0
    if folder.exists():
        try:
            shutil.rmtree(folder)
        except OSError as error:
            raise CacheError(f"cannot delete {folder}: {error.strerror or error}") from None
    return folder, count
