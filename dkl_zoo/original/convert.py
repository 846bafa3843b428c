"""Original (pickled) checkpoint → Hub repo folder: ``model.safetensors``, ``config.json``, ``README.md``.

The authors' files are pickles. They are read with ``torch.load(weights_only=True)``, which only rebuilds
tensors and plain containers: a file that needs code to unpickle is refused and nothing in it runs.
The conversion is deterministic: the same input gives byte-identical output, so the sha256 printed here is
the one a pins file records, and a file converted again on a user's machine hashes the same.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import (
    InvalidArgumentError,
    OriginalReleaseError,
    StateDictMismatchError,
    UnsafeCheckpointError,
    WeightsFormatError,
)
from ..models import assign_state_dict, build_model, pretrained_cfg
from ..registry import ModelEntry, get_entry

__all__ = [
    "load_original",
    "normalize_state_dict",
    "convert_checkpoint",
    "write_repo_folder",
    "weights_file_content",
    "config_for",
]

_LOGGER = logging.getLogger(__name__)
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
_PREFIXES = ("module.", "model.", "0.", "1.")


def _sha256(path: Path) -> str:
    from .._integrity import file_digest

    return file_digest(path)


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<"))


def _looks_like_checkpoint(path: Path) -> bool:
    """torch.save writes a zip archive (``PK``); older versions and plain pickles start with a pickle opcode
    (``0x80`` protocol marker, or the ``(``/``}``/``]`` of protocol 0/1)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] in (b"\x80", b"(", b"}", b"]", b"c")


_MAX_EXPANSION = 20  # torch stores its zip members uncompressed: a real checkpoint expands by about 1x
_MAX_DECLARED = 8 << 30  # 8 GiB: far above any released checkpoint (WRN-34-10 with optimizer state < 1 GiB)


def _check_archive_sizes(path: Path) -> None:
    """Refuse a zip whose members declare far more bytes than the file holds (a zip bomb) before reading it."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # legacy (non-zip) torch format: read as a stream, nothing to expand
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise OriginalReleaseError(f"{path} is not a readable PyTorch checkpoint: {error}") from None
    size = path.stat().st_size
    if declared > _MAX_DECLARED or declared > _MAX_EXPANSION * size + (1 << 20):
        raise UnsafeCheckpointError(
            f"{path} declares {declared:,} bytes of content in a {size:,}-byte archive (a zip bomb?); it was not "
            "read. Real PyTorch checkpoints store their tensors uncompressed."
        )


def load_original(src_path: str | os.PathLike[str]) -> Any:
    """The object stored in an original checkpoint, unpickled without running any code from it."""
    path = Path(src_path)
    if not path.is_file():
        raise InvalidArgumentError(
            f"checkpoint {path} does not exist"
            if not path.exists()
            else f"{path} is not a file: give the checkpoint file itself"
        )
    if _looks_like_html(path):
        raise OriginalReleaseError(
            f"{path} is an HTML page, not a checkpoint: Google Drive answers with a web page when its download "
            "quota is exceeded, the file was removed, or access is denied (what RobustBench users see as "
            "\"UnpicklingError: invalid load key '<'\"). Try again later or download the file by hand."
        )
    _check_archive_sizes(path)
    if not _looks_like_checkpoint(path):
        raise OriginalReleaseError(
            f"{path} is not a PyTorch checkpoint (neither the zip archive torch.save writes nor a pickle); check "
            "that it is the file you meant"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{path} needs code to unpickle, which is never run here ({str(error).splitlines()[0]}). Only "
            "tensors and plain containers are accepted; nothing in the file was executed."
        ) from None
    except (RuntimeError, EOFError, ValueError) as error:
        raise OriginalReleaseError(f"{path} is not a readable PyTorch checkpoint: {error}") from None


def _unwrap(obj: Any) -> Mapping[str, torch.Tensor]:
    seen = 0
    while isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None or seen > 3:
            keys = ", ".join(sorted(map(str, obj))[:10])
            raise OriginalReleaseError(f"no state dict found in the checkpoint (top-level keys: {keys})")
        obj, seen = inner, seen + 1
    if not isinstance(obj, Mapping):
        raise OriginalReleaseError(f"the checkpoint holds a {type(obj).__name__}, not a state dict")
    return obj


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def normalize_state_dict(obj: Any, expected_keys: set[str]) -> dict[str, torch.Tensor]:
    """Unwrap ``state_dict`` / ``model_state_dict``, strip ``module.`` / ``module.0.``-style prefixes and
    ``sub_block1`` entries, so the keys can match ``expected_keys`` exactly.

    A ``nn.Sequential(Normalize, net)`` wrapper shows as ``0.*`` (normalisation buffers) and ``1.*`` keys: the
    net's keys are kept and the wrapper's dropped only when the net alone matches the architecture.
    """
    state = dict(_unwrap(obj))
    state = {k: v for k, v in state.items() if not re.match(r"^(module\.)?(\d+\.)?sub_block1\.", k)}
    best = state
    for _ in range(3):  # peel nested wrappers: module.0.x, module.1.x, 0.x ...
        if set(best) == expected_keys:
            break
        for prefix in _PREFIXES:
            stripped = {k[len(prefix) :]: v for k, v in best.items() if k.startswith(prefix)}
            if stripped and (len(stripped) == len(best) or set(stripped) == expected_keys):
                best = stripped
                break
        else:
            break
    return {k: v for k, v in best.items()}


def _canonicalize_header(path: Path) -> None:
    """Rewrite the safetensors JSON header with sorted keys: safetensors writes its metadata map in hash
    order, which changes between runs; the tensor bytes and offsets do not."""
    with open(path, "r+b") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
        canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        if len(canonical) > size:
            raise WeightsFormatError(f"canonical safetensors header of {path} does not fit ({len(canonical)} > {size})")
        handle.seek(8)
        handle.write(canonical.ljust(size, b" "))


_CONFIG_JSON_KEYS = (
    "input_size",
    "mean",
    "std",
    "interpolation",
    "crop_pct",
    "num_classes",
    "first_conv",
    "classifier",
    "license",
    "label_names",
    "paper_ids",
    "origin_url",
)
"""The pretrained-config fields a Hub repo's config.json carries (timm fills in the repo id itself)."""


def config_for(
    entry: ModelEntry, *, weights_sha256: str | None = None, source_sha256: str | None = None
) -> dict[str, Any]:
    """config.json: timm's fields (architecture, num_classes, pretrained_cfg) and ours under ``dkl_zoo``."""
    timm_cfg = pretrained_cfg(entry)
    return {
        "architecture": entry.timm_name,
        "num_classes": entry.num_classes,
        "num_features": int(build_model(entry, meta=True).num_features),
        "label_names": list(entry.categories),  # where timm's push_to_hf_hub writes them
        "pretrained_cfg": {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in timm_cfg.items()
            if key in _CONFIG_JSON_KEYS
        },
        "dkl_zoo": {
            "name": entry.name,
            "architecture": entry.arch.name,
            "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in entry.arch.kwargs.items()},
            "dataset": entry.dataset,
            "threat_model": entry.provenance.threat_model,
            "eps": entry.provenance.eps_label,
            "inputs": "float NCHW in [0, 1]; normalisation " + entry.arch.normalization,
            "weights_sha256": weights_sha256,
            "source_sha256": source_sha256,
        },
    }


def weights_file_content(
    entry: ModelEntry, state_dict: Mapping[str, torch.Tensor], *, source_sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (the architecture's own keys, sorted, contiguous on the CPU) and the metadata of an entry's
    ``model.safetensors``: what ``write_repo_folder`` writes, and what the entry's file size is measured on."""
    model = build_model(entry, meta=True)
    assign_state_dict(model, {k: v.detach().to("cpu") for k, v in state_dict.items()})
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in sorted(model.state_dict().items())}
    metadata = {
        "format": "pt",
        "name": entry.name,
        "architecture": entry.arch.name,
        "source_sha256": source_sha256 or "none",
    }
    return tensors, metadata


def write_repo_folder(
    entry: ModelEntry,
    state_dict: Mapping[str, torch.Tensor],
    out_dir: str | os.PathLike[str],
    *,
    source_sha256: str | None = None,
) -> Path:
    """Write ``model.safetensors`` (canonical header), ``config.json`` and ``README.md`` for ``entry``.

    Used by ``convert_checkpoint`` for released files and by the training code for its own runs.
    """
    from safetensors.torch import save_file

    from ..maintainers.cards import render_card

    tensors, metadata = weights_file_content(entry, state_dict, source_sha256=source_sha256)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model.safetensors"
    save_file(tensors, str(weights), metadata=metadata)
    _canonicalize_header(weights)
    os.chmod(weights, 0o644)
    config = config_for(entry, weights_sha256=_sha256(weights), source_sha256=source_sha256)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "README.md").write_text(render_card(entry))
    return out


def convert_checkpoint(
    src_path: str | os.PathLike[str],
    name: str | ModelEntry,
    out_dir: str | os.PathLike[str],
) -> Path:
    """Convert an original checkpoint of registry entry ``name`` into a Hub repo folder; returns it.

    The state dict must fit the entry's architecture exactly after unwrapping (``StateDictMismatchError``
    otherwise). Logs (``logging``, logger ``dkl_zoo.original.convert``) the sha256 of ``model.safetensors``: with
    the Hub
    commit, the pin of a pins file.
    """
    entry = get_entry(name) if isinstance(name, str) else name
    src = Path(src_path)
    if not src.is_file():
        raise InvalidArgumentError(
            f"checkpoint {src} does not exist"
            if not src.exists()
            else f"{src} is not a file: give the checkpoint file itself"
        )
    source_sha256 = _sha256(src)
    model = build_model(entry, meta=True)
    expected = set(model.state_dict())
    state = normalize_state_dict(load_original(src), expected)
    try:
        assign_state_dict(model, state)
    except StateDictMismatchError as error:
        raise StateDictMismatchError(
            error.missing,
            error.unexpected,
            error.mismatched,
            hint=f"{src} does not hold a {entry.arch.label} with {entry.num_classes} classes: is it the file of "
            f"{entry.name}?",
        ) from None
    out = write_repo_folder(entry, model.state_dict(), out_dir, source_sha256=source_sha256)
    weights_sha256 = _sha256(out / "model.safetensors")
    _LOGGER.info(
        "%s: wrote %s (model.safetensors sha256 %s; source sha256 %s)", entry.name, out, weights_sha256, source_sha256
    )
    return out
